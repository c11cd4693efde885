"""Write then read back equals, for every format and container (Hypothesis)."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefkit.data import io
from prefkit.data.index import ItemIndex
from prefkit.data.model import Dataset, PairwiseTable, RankingTable, RatingTable

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# names: printable text incl. commas, quotes, non-ASCII; no surrounding blanks (a blank cell means "absent")
_chars = st.characters(
    whitelist_categories=("L", "N", "P", "S", "Zs"),
    blacklist_characters="\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
)
names = st.text(_chars, min_size=1, max_size=12).map(str.strip).filter(bool)
texts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), min_size=1, max_size=40
)


def _decode_pairs(ds: Dataset, fields: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """Each pairwise judgment as names/values (independent of codes and index order)."""
    pw = ds.pairwise
    out = []
    for i in range(len(pw)):
        row: dict[str, Any] = {
            "a": ds.items.name(int(pw.a[i])),
            "b": ds.items.name(int(pw.b[i])),
            "outcome": int(pw.outcome[i]),
            "strength": None if math.isnan(pw.strength[i]) else float(pw.strength[i]),
            "context": ds.contexts.name(int(pw.context[i])) if pw.context[i] >= 0 else None,
            "annotator": ds.annotators.name(int(pw.annotator[i])) if pw.annotator[i] >= 0 else None,
            "criterion": ds.criteria.name(int(pw.criterion[i])),
            "weight": float(pw.weight[i]),
            "id": pw.ids[i].as_py(),
            "rationale": pw.rationale[i].as_py(),
        }
        if "a_text" in fields:
            row["a_text"] = ds.item_text[row["a"]]
            row["b_text"] = ds.item_text[row["b"]]
            row["c_text"] = ds.context_text.get(row["context"]) if row["context"] else None
        out.append(tuple(row[f] for f in fields))
    return out


@st.composite
def arena_datasets(draw: Any) -> Dataset:
    n = draw(st.integers(1, 25))
    items = draw(st.lists(names, min_size=2, max_size=8, unique=True))
    ab = draw(
        st.lists(
            st.tuples(st.sampled_from(items), st.sampled_from(items)).filter(lambda t: t[0] != t[1]),
            min_size=n,
            max_size=n,
        )
    )
    ds = Dataset(items=ItemIndex(items))
    a = ds.items.encode([x for x, _ in ab])
    b = ds.items.encode([y for _, y in ab])
    outcome = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    kw: dict[str, Any] = {}
    if draw(st.booleans()):
        kw["context"] = ds.contexts.encode(draw(st.lists(names, min_size=n, max_size=n)))
    if draw(st.booleans()):
        kw["annotator"] = ds.annotators.encode(draw(st.lists(names, min_size=n, max_size=n)))
    if draw(st.booleans()):
        kw["ids"] = [f"j{i}" for i in range(n)]
    if draw(st.booleans()):
        kw["tstamp"] = np.asarray(draw(st.lists(st.floats(0, 2e9), min_size=n, max_size=n)))
    ds.pairwise = PairwiseTable.build(a, b, outcome, **kw)
    return ds


ARENA_FIELDS = ("a", "b", "outcome", "context", "annotator", "id")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet", ".jsonl.gz"])
@SETTINGS
@given(ds=arena_datasets())
def test_arena_round_trip(suffix: str, ds: Dataset) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"battles{suffix}"
        io.write(ds, path, "arena")
        back = io.read(path)
    assert back.meta["format"] == "arena"
    assert _decode_pairs(back, ARENA_FIELDS) == _decode_pairs(ds, ARENA_FIELDS)
    np.testing.assert_array_equal(back.pairwise.tstamp, ds.pairwise.tstamp)


@st.composite
def text_pairs(draw: Any) -> list[tuple[Any, Any, Any]]:
    """(prompt, chosen, rejected) text triples, chosen != rejected."""
    with_prompt = draw(st.booleans())
    rows = draw(st.lists(st.tuples(texts, texts, texts), min_size=1, max_size=10))
    return [(p if with_prompt else None, c, r) for p, c, r in rows if c != r] or [
        ("p" if with_prompt else None, "x", "y")
    ]


def _text_dataset(rows: list[tuple[Any, Any, Any]], conversational: bool) -> Dataset:
    ds = Dataset()
    a, b, c = [], [], []
    for i, (p, ch, rj) in enumerate(rows):
        for name, txt in ((f"c{i}", ch), (f"r{i}", rj)):
            ds.items.add(name)
            ds.item_text[name] = txt
        a.append(ds.items.code(f"c{i}"))
        b.append(ds.items.code(f"r{i}"))
        if p is None:
            c.append(-1)
        else:
            c.append(ds.contexts.add(f"p{i}"))
            ds.context_text[f"p{i}"] = p
    ds.pairwise = PairwiseTable.build(a, b, np.zeros(len(a), np.int8), context=c)
    ds.meta["conversational"] = conversational
    return ds


TEXT_FIELDS = ("outcome", "a_text", "b_text", "c_text")


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
@SETTINGS
@given(rows=text_pairs())
def test_trl_text_round_trip(suffix: str, rows: list[tuple[Any, Any, Any]]) -> None:
    ds = _text_dataset(rows, conversational=False)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"pairs{suffix}"
        io.write(ds, path, "trl")
        back = io.read(path)
    assert back.meta["format"] == "trl"
    assert _decode_pairs(back, TEXT_FIELDS) == _decode_pairs(ds, TEXT_FIELDS)


messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system"]), "content": texts}),
    min_size=1,
    max_size=3,
)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
@SETTINGS
@given(rows=st.lists(st.tuples(messages, messages, messages), min_size=1, max_size=6))
def test_trl_conversational_round_trip(suffix: str, rows: list[Any]) -> None:
    rows = [(p, c, r) for p, c, r in rows if c != r] or [
        (
            [{"role": "user", "content": "q"}],
            [{"role": "assistant", "content": "x"}],
            [{"role": "assistant", "content": "y"}],
        )
    ]
    dumped = [
        (
            json.dumps(p, ensure_ascii=False),
            json.dumps(c, ensure_ascii=False),
            json.dumps(r, ensure_ascii=False),
        )
        for p, c, r in rows
    ]
    ds = _text_dataset(dumped, conversational=True)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"pairs{suffix}"
        io.write(ds, path, "trl")
        back = io.read(path)
    assert back.meta["conversational"] is True
    decoded = [tuple(json.loads(x) for x in row[1:]) for row in _decode_pairs(back, TEXT_FIELDS)]
    assert decoded == [(c, r, p) for p, c, r in rows]


@SETTINGS
@given(rows=st.lists(st.tuples(texts, texts, texts), min_size=1, max_size=8))
def test_hh_rlhf_round_trip(rows: list[Any]) -> None:
    # an hh-rlhf prompt ends with the last "\n\nAssistant:"; answers contain no further Assistant turn
    triples = [
        (
            f"\n\nHuman: {p}\n\nAssistant:",
            " " + c.replace("\n\nAssistant:", ""),
            " " + r.replace("\n\nAssistant:", ""),
        )
        for p, c, r in rows
    ]
    triples = [t for t in triples if t[1] != t[2]] or [("\n\nHuman: q\n\nAssistant:", " x", " y")]
    ds = _text_dataset(triples, conversational=False)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "hh.jsonl.gz"
        io.write(ds, path, "hh-rlhf")
        assert io.detect_format(path) == "hh-rlhf"
        back = io.read(path)
    assert _decode_pairs(back, TEXT_FIELDS) == _decode_pairs(ds, TEXT_FIELDS)


@SETTINGS
@given(ds=arena_datasets())
def test_crowd_round_trip(ds: Dataset) -> None:
    ds.pairwise.outcome[ds.pairwise.outcome == 3] = 2  # crowd logs have no both-bad label
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "crowd.csv"
        io.write(ds, path, "crowd")
        back = io.read(path)
    assert back.meta["format"] == "crowd"
    fields = ("a", "b", "outcome", "context", "annotator")
    assert _decode_pairs(back, fields) == _decode_pairs(ds, fields)


@st.composite
def native_datasets(draw: Any) -> Dataset:
    items = draw(st.lists(names, min_size=3, max_size=8, unique=True))
    ds = Dataset(items=ItemIndex(items))
    for it in items:
        if draw(st.booleans()):
            ds.item_text[it] = draw(texts)
    ctxs = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    for c in ctxs:
        ds.contexts.add(c)
        if draw(st.booleans()):
            ds.context_text[c] = draw(texts)
    anns = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    for an in anns:
        ds.annotators.add(an)
        if draw(st.booleans()):
            ds.annotator_kind[an] = draw(st.sampled_from(["human", "model"]))
        if draw(st.booleans()):
            ds.annotator_groups[an] = draw(st.dictionaries(names, names, max_size=2))
    crits = ["overall", *draw(st.lists(names, max_size=2, unique=True))]
    for cr in crits:
        ds.criteria.add(cr)
    opt = st.one_of(st.just(-1), st.integers(0, 10**6))
    n = draw(st.integers(0, 12))
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(range(len(items))), st.sampled_from(range(len(items)))).filter(
                lambda t: t[0] != t[1]
            ),
            min_size=n,
            max_size=n,
        )
    )
    ds.pairwise = PairwiseTable.build(
        [p[0] for p in pairs],
        [p[1] for p in pairs],
        draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)),
        strength=draw(
            st.lists(st.one_of(st.just(math.nan), st.integers(-3, 3).map(float)), min_size=n, max_size=n)
        ),
        context=[c % len(ctxs) if c >= 0 else -1 for c in draw(st.lists(opt, min_size=n, max_size=n))],
        annotator=[c % len(anns) if c >= 0 else -1 for c in draw(st.lists(opt, min_size=n, max_size=n))],
        criterion=draw(st.lists(st.sampled_from(range(len(crits))), min_size=n, max_size=n)),
        weight=draw(st.lists(st.sampled_from([1.0, 0.5, 2.0]), min_size=n, max_size=n)),
        ids=[f"p{i}" if draw(st.booleans()) else None for i in range(n)],
        rationale=draw(st.lists(st.one_of(st.none(), texts), min_size=n, max_size=n)),
    )
    rankings = []
    for _ in range(draw(st.integers(0, 4))):
        members = draw(st.permutations(range(len(items))))[: draw(st.integers(2, len(items)))]
        cuts = sorted(draw(st.sets(st.integers(1, len(members) - 1), max_size=len(members) - 1)))
        bounds = [0, *cuts, len(members)]
        rankings.append([list(members[x:y]) for x, y in zip(bounds, bounds[1:], strict=False)])
    nr = len(rankings)
    ds.rankings = RankingTable.from_lists(
        rankings,
        context=[c % len(ctxs) if c >= 0 else -1 for c in draw(st.lists(opt, min_size=nr, max_size=nr))],
        ids=[f"r{i}" for i in range(nr)],
    )
    m = draw(st.integers(0, 6))
    attrs = ["helpful", "honest"]
    for at in attrs:
        ds.attributes.add(at)
    lo = draw(st.sampled_from([0.0, 1.0]))
    ds.ratings = RatingTable.build(
        draw(st.lists(st.sampled_from(range(len(items))), min_size=m, max_size=m)),
        draw(st.lists(st.floats(lo, 7.0), min_size=m, max_size=m)),
        np.full(m, lo),
        np.full(m, 7.0),
        attribute=draw(st.lists(st.sampled_from([-1, 0, 1]), min_size=m, max_size=m)),
        annotator=[c % len(anns) if c >= 0 else -1 for c in draw(st.lists(opt, min_size=m, max_size=m))],
    )
    if n + nr + m == 0:
        ds.pairwise = PairwiseTable.build([0], [1], [0])
    return ds


def _decode_all(ds: Dataset) -> dict[str, Any]:
    fields = (
        "a",
        "b",
        "outcome",
        "strength",
        "context",
        "annotator",
        "criterion",
        "weight",
        "id",
        "rationale",
    )
    rk = ds.rankings
    rt = ds.ratings
    nm = ds.items.name
    return {
        "pairwise": _decode_pairs(ds, fields),
        "rankings": [
            (
                [[nm(m) for m in g] for g in rk.groups(r)],
                ds.contexts.name(int(rk.context[r])) if rk.context[r] >= 0 else None,
                rk.ids[r].as_py(),
            )
            for r in range(len(rk))
        ],
        "ratings": [
            (
                nm(int(rt.item[i])),
                float(rt.score[i]),
                float(rt.scale_min[i]),
                float(rt.scale_max[i]),
                ds.attributes.name(int(rt.attribute[i])) if rt.attribute[i] >= 0 else None,
                ds.annotators.name(int(rt.annotator[i])) if rt.annotator[i] >= 0 else None,
            )
            for i in range(len(rt))
        ],
        "items": ds.items.names,
        "contexts": ds.contexts.names,
        "annotators": ds.annotators.names,
        "item_text": ds.item_text,
        "context_text": ds.context_text,
        "annotator_kind": ds.annotator_kind,
        "annotator_groups": ds.annotator_groups,
    }


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
@SETTINGS
@given(ds=native_datasets())
def test_prefkit_jsonl_round_trip(suffix: str, ds: Dataset) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"data{suffix}"
        io.write(ds, path)
        assert io.detect_format(path) == "prefkit"
        back = io.read(path)
    assert _decode_all(back) == _decode_all(ds)


def test_iter_chunks_share_one_index(tmp_path: Path) -> None:
    ds = Dataset(items=ItemIndex(["x", "y", "z"]))
    ds.pairwise = PairwiseTable.build([0, 1, 2, 0, 1], [1, 2, 0, 2, 0], [0, 1, 2, 3, 0])
    for suffix in (".jsonl", ".parquet", ".csv"):
        path = tmp_path / f"b{suffix}"
        io.write(ds, path, "arena")
        chunks = list(io.iter_chunks(path, chunk_rows=2))
        assert [len(c.pairwise) for c in chunks] == [2, 2, 1]
        assert all(c.items is chunks[0].items for c in chunks)
        whole = io.concat(chunks)
        assert _decode_pairs(whole, ARENA_FIELDS) == _decode_pairs(ds, ARENA_FIELDS)
