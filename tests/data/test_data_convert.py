"""Conversions, the comparison graph and summaries, checked against brute-force oracles."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefkit.cli.main import main
from prefkit.data import graph, io
from prefkit.data.convert import (
    implied_pairs,
    pairs_to_trl,
    ranking_to_pairs,
    ratings_to_pairs,
    to_pairwise,
)
from prefkit.data.index import ItemIndex
from prefkit.data.model import Dataset, PairwiseTable, RankingTable, RatingTable
from prefkit.data.summary import summarize
from prefkit.errors import DataProblemError, ValidationError

rankings_st = st.lists(
    st.permutations(range(6)).flatmap(
        lambda p: st.integers(2, 6).flatmap(
            lambda k: st.lists(st.integers(0, 2), min_size=k, max_size=k).map(
                lambda lv: (list(p[:k]), sorted(lv))
            )
        )
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=40, deadline=None)
@given(spec=rankings_st)
def test_ranking_to_pairs_matches_brute_force(spec: list) -> None:
    lists = []
    for members, levels in spec:
        groups: dict[int, list[int]] = {}
        for m, lv in zip(members, levels, strict=True):
            groups.setdefault(lv, []).append(m)
        lists.append([groups[k] for k in sorted(groups)])
    rt = RankingTable.from_lists(lists, context=list(range(len(lists))))
    pw = ranking_to_pairs(rt)
    expect = []
    for r, groups in enumerate(lists):
        pos = [(m, g) for g, grp in enumerate(groups) for m in grp]
        for (m1, g1), (m2, g2) in itertools.combinations(pos, 2):
            expect.append((m1, m2, 2 if g1 == g2 else 0, r))
    got = list(zip(pw.a.tolist(), pw.b.tolist(), pw.outcome.tolist(), pw.context.tolist(), strict=True))
    assert got == expect


csr_st = st.lists(
    st.lists(
        st.tuples(st.integers(0, 9), st.integers(0, 3)), min_size=0, max_size=6, unique_by=lambda t: t[0]
    ),
    min_size=0,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(spec=csr_st)
def test_implied_pairs_matches_brute_force_enumeration(spec: list) -> None:
    """Unsorted levels, rankings of 0..6 items: every pair once, the better item first, equal levels tie."""
    sizes = [len(r) for r in spec]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    members = np.array([m for r in spec for m, _ in r], dtype=np.int64)
    level = np.array([lv for r in spec for _, lv in r], dtype=np.int64)
    got = implied_pairs(offsets, members, level)
    expect = []
    for r, rows in enumerate(spec):
        for (m1, l1), (m2, l2) in itertools.combinations(rows, 2):
            if l1 == l2:
                expect.append((m1, m2, 2, r))
            else:
                expect.append((m1, m2, 0, r) if l1 < l2 else (m2, m1, 0, r))
    rows_got = zip(got.a.tolist(), got.b.tolist(), got.outcome.tolist(), got.ranking.tolist(), strict=True)
    assert list(rows_got) == expect


@pytest.mark.parametrize(
    ("offsets", "members", "level", "message"),
    [
        ([0, 3], [0, 1], [0, 1], "offsets"),
        ([1, 2], [0, 1], [0, 1], "offsets"),
        ([0, 2, 1, 2], [0, 1], [0, 1], "offsets"),
        ([], [], [], "offsets"),
        ([0, 2], [0, 1], [0], "level: one level per member"),
        ([0, 2], [0, -1], [0, 1], "members"),
        ([0, 2], [0.5, 1.0], [0, 1], "members: expected a 1-D array of integers"),
        ([0, 2], [[0, 1]], [0, 1], "members: expected a 1-D array"),
    ],
)
def test_implied_pairs_refuses_bad_csr(offsets: list, members: list, level: list, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        implied_pairs(np.array(offsets), np.array(members), np.array(level))


def test_implied_pairs_of_nothing_is_empty() -> None:
    p = implied_pairs(np.array([0, 1, 1]), np.array([4]), np.array([0]))
    assert len(p.a) == len(p.b) == len(p.outcome) == len(p.ranking) == 0


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 4), st.integers(1, 5), st.integers(0, 1), st.integers(-1, 1)),
        min_size=0,
        max_size=12,
    )
)
def test_ratings_to_pairs_matches_brute_force(rows: list) -> None:
    rt = RatingTable.build(
        [r[0] for r in rows],
        [float(r[1]) for r in rows],
        np.ones(len(rows)),
        np.full(len(rows), 5.0),
        attribute=[r[2] for r in rows],
        annotator=[r[3] for r in rows],
    )
    mp = ratings_to_pairs(rt)
    expect = set()
    for (i1, s1, at1, an1), (i2, s2, at2, an2) in itertools.combinations(rows, 2):
        if (at1, an1) == (at2, an2) and i1 != i2:
            hi, lo = (i1, i2) if s1 >= s2 else (i2, i1)
            key = (hi, lo) if s1 != s2 else tuple(sorted((i1, i2)))
            expect.add((*key, 2 if s1 == s2 else 0, abs(s1 - s2), at1))
    got = set()
    for a, b, o, m, at in zip(
        mp.pairs.a.tolist(),
        mp.pairs.b.tolist(),
        mp.pairs.outcome.tolist(),
        mp.margin.tolist(),
        mp.attribute.tolist(),
        strict=True,
    ):
        key = (a, b) if o == 0 else tuple(sorted((a, b)))
        got.add((*key, o, m, at))
    assert got == expect
    assert len(mp.pairs) == sum(
        1 for x, y in itertools.combinations(rows, 2) if x[2:] == y[2:] and x[0] != y[0]
    )


def _bfs_components(n: int, edges: list[tuple[int, int]]) -> set[frozenset[int]]:
    adj: dict[int, set[int]] = {i: set() for i in range(n)}
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    seen: set[int] = set()
    comps = set()
    for s in range(n):
        if s in seen:
            continue
        stack, comp = [s], set()
        while stack:
            v = stack.pop()
            if v not in comp:
                comp.add(v)
                stack.extend(adj[v] - comp)
        seen |= comp
        comps.add(frozenset(comp))
    return comps


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 12), edges=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=15))
def test_components_match_bfs(n: int, edges: list) -> None:
    edges = [(a % n, b % n) for a, b in edges]
    labels = graph.components(n, np.array([e[0] for e in edges], int), np.array([e[1] for e in edges], int))
    got = {frozenset(np.flatnonzero(labels == c).tolist()) for c in range(labels.max() + 1)}
    assert got == _bfs_components(n, edges)
    sizes = np.bincount(labels)
    assert (np.diff(sizes) <= 0).all()  # largest first
    assert graph.is_connected(
        n, np.array([e[0] for e in edges], int), np.array([e[1] for e in edges], int)
    ) == (len(got) == 1)


def test_components_bad_arguments() -> None:
    with pytest.raises(ValidationError, match="same length"):
        graph.components(3, np.array([0]), np.array([1, 2]))
    with pytest.raises(ValidationError, match="item codes"):
        graph.components(2, np.array([0]), np.array([5]))


def _texts_dataset() -> Dataset:
    ds = Dataset(items=ItemIndex(["r1", "r2", "r3"]), contexts=ItemIndex(["p"]))
    ds.item_text.update({"r1": "one", "r2": "two", "r3": "three"})
    ds.context_text["p"] = "prompt"
    ds.pairwise = PairwiseTable.build([0, 1, 0, 2], [1, 2, 2, 0], [0, 1, 2, 3], context=[0, 0, -1, 0])
    return ds


def test_pairs_to_trl_orients_and_counts_drops() -> None:
    res = pairs_to_trl(_texts_dataset())
    assert res.rows == [
        {"prompt": "prompt", "chosen": "one", "rejected": "two"},
        {"prompt": "prompt", "chosen": "three", "rejected": "two"},
    ]
    assert (res.dropped_ties, res.dropped_both_bad) == (1, 1)
    arena = Dataset(items=ItemIndex(["x", "y"]))
    arena.pairwise = PairwiseTable.build([0], [1], [0])
    with pytest.raises(DataProblemError, match="no texts"):
        pairs_to_trl(arena)


def test_summary_counts_and_components() -> None:
    ds = Dataset(items=ItemIndex(list("abcdefg")), annotators=ItemIndex(["h", "m"]))
    ds.pairwise = PairwiseTable.build([0, 1, 0], [1, 0, 2], [0, 2, 3], annotator=[0, 0, -1])
    ds.rankings = RankingTable.from_lists([[[3], [4]]], annotator=[1])
    ds.ratings = RatingTable.build([5, 6], [1.0, 2.0], [1.0, 1.0], [5.0, 5.0])
    s = summarize(ds)
    assert (s.items, s.judgments, s.pairwise, s.rankings, s.ratings, s.ties, s.both_bad, s.annotators) == (
        7,
        6,
        3,
        1,
        2,
        2,
        1,
        2,
    )
    assert not s.connected and s.n_components == 3
    assert sorted(sorted(c) for c in s.components) == [["a", "b", "c"], ["d", "e"], ["f", "g"]]
    assert json.loads(json.dumps(s.to_dict()))["components"]


def test_streamed_summary_equals_in_memory(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 30, 5000)
    b = (a + rng.integers(1, 30, 5000)) % 30
    ds = Dataset(items=ItemIndex([f"m{i}" for i in range(30)]))
    ds.pairwise = PairwiseTable.build(a, b, rng.integers(0, 4, 5000))
    path = tmp_path / "b.parquet"
    io.write(ds, path, "arena")
    whole = summarize(ds)
    streamed = summarize(path, chunk_rows=333)
    assert (
        streamed.items,
        streamed.pairwise,
        streamed.ties,
        streamed.both_bad,
        streamed.distinct_pairs,
        streamed.connected,
    ) == (whole.items, whole.pairwise, whole.ties, whole.both_bad, whole.distinct_pairs, whole.connected)
    assert streamed.ties == int((ds.pairwise.outcome >= 2).sum())
    assert streamed.distinct_pairs == len(
        {(min(x, y), max(x, y)) for x, y in zip(a.tolist(), b.tolist(), strict=True)}
    )


def test_cli_convert_rankings_to_trl_and_arena(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "r.jsonl"
    src.write_text(
        '{"type": "item", "id": "x", "text": "ex"}\n{"type": "item", "id": "y", "text": "why"}\n'
        '{"type": "item", "id": "z", "text": "zed"}\n'
        '{"type": "ranking", "ranking": ["x", ["y", "z"]]}\n',
        encoding="utf-8",
    )
    out = tmp_path / "t.jsonl"
    with pytest.raises(SystemExit) as ex:
        main(["convert", str(src), str(out), "--to", "trl"])
    assert ex.value.code in (0, None)
    err = capsys.readouterr().err
    assert "converted 1 rankings into 3 pairs" in err and "dropped 1 ties" in err
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert rows == [{"chosen": "ex", "rejected": "why"}, {"chosen": "ex", "rejected": "zed"}]
    pq_out = tmp_path / "a.parquet"
    with pytest.raises(SystemExit):
        main(["convert", str(src), str(pq_out), "--to", "parquet"])
    assert io.read(pq_out).meta["format"] == "trl"
    with pytest.raises(SystemExit) as ex:
        main(["convert", str(src), str(tmp_path / "a.txt")])
    assert ex.value.code == 2
    assert "use a .jsonl" in capsys.readouterr().err


def test_to_pairwise_keeps_pairs_and_appends_converted() -> None:
    ds = _texts_dataset()
    ds.rankings = RankingTable.from_lists([[[0], [1], [2]]])
    conv = to_pairwise(ds)
    assert (conv.from_rankings, conv.from_ratings) == (3, 0)
    assert len(conv.dataset.pairwise) == 7 and len(conv.dataset.rankings) == 0


def test_cli_validate_and_info_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "b.csv"
    path.write_text("model_a,model_b,winner\nx,y,model_a\nz,w,tie (bothbad)\n", encoding="utf-8")
    with pytest.raises(SystemExit) as ex:
        main(["validate", str(path)])
    assert ex.value.code in (0, None)
    assert "ok:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["info", str(path)])
    out = capsys.readouterr().out
    assert "no: 2 components" in out and "component 1" in out
    with pytest.raises(SystemExit) as ex:
        main(["info", str(path), "--format", "xml"])
    assert ex.value.code == 2
