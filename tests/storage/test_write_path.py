"""The one write path: small-batch and bulk lookups store the same thing, timestamps as a column through
import and export, crowd workers as human annotators, exports that match nothing, truncated files."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefkit.cli import _common
from prefkit.cli.main import main
from prefkit.data import io
from prefkit.data.index import ItemIndex
from prefkit.data.model import Dataset, PairwiseTable, RankingTable, RatingTable
from prefkit.errors import DataProblemError, FormatError, InputError
from prefkit.storage import keys as K
from prefkit.storage import write as Wr
from prefkit.storage.store import ProjectStore

# -- Hypothesis: small-batch (IN lists) and bulk (staged) lookups give identical stores ---------------------

NAMES = ["a", "b", "c", "d", "é", "x y"]
TIMES = st.one_of(st.just(float("nan")), st.floats(1e9, 2e9), st.sampled_from([1.7e9, 1.7e9 + 0.5]))


@st.composite
def datasets(draw: st.DrawFn, id_prefix: str = "j") -> Dataset:
    items = ItemIndex(draw(st.lists(st.sampled_from(NAMES), min_size=2, max_size=6, unique=True)))
    contexts = ItemIndex(draw(st.lists(st.sampled_from(["p1", "p2", "p3"]), max_size=3, unique=True)))
    annotators = ItemIndex(draw(st.lists(st.sampled_from(["h1", "h2", "m1"]), max_size=3, unique=True)))
    criteria = ItemIndex(draw(st.sampled_from([["overall"], ["overall", "helpful"]])))
    ni, nc, na, ncr = len(items), len(contexts), len(annotators), len(criteria)
    n = draw(st.integers(0, 10))

    def col(s: st.SearchStrategy, k: int) -> list:  # type: ignore[type-arg]
        return draw(st.lists(s, min_size=k, max_size=k))

    a = np.asarray(col(st.integers(0, ni - 1), n), dtype=np.int32)
    b = (a + np.asarray(col(st.integers(1, ni - 1), n), dtype=np.int32)) % ni
    ids = [f"{id_prefix}{i}" for i in range(n)] if draw(st.booleans()) else None
    pairwise = PairwiseTable.build(
        a,
        b,
        col(st.integers(0, 3), n),
        context=col(st.integers(-1, nc - 1), n),
        annotator=col(st.integers(-1, na - 1), n),
        criterion=col(st.integers(0, ncr - 1), n),
        rationale=col(st.one_of(st.none(), st.just("because")), n),
        ids=ids,
        line=np.arange(1, n + 1),
        tstamp=col(TIMES, n),
    )
    n_rk = draw(st.integers(0, 3))
    groups = [
        [[int(i)] for i in draw(st.permutations(range(ni)))][: draw(st.integers(2, ni))] for _ in range(n_rk)
    ]
    rankings = RankingTable.from_lists(
        groups,
        annotator=col(st.integers(-1, na - 1), n_rk),
        line=np.arange(50, 50 + n_rk),
        tstamp=col(TIMES, n_rk),
    )
    n_rt = draw(st.integers(0, 4))
    ratings = RatingTable.build(
        col(st.integers(0, ni - 1), n_rt),
        col(st.sampled_from([1.0, 4.0, 7.0]), n_rt),
        np.ones(n_rt),
        np.full(n_rt, 7.0),
        context=col(st.integers(-1, nc - 1), n_rt),
        line=np.arange(100, 100 + n_rt),
        tstamp=col(TIMES, n_rt),
    )
    return Dataset(
        items=items,
        contexts=contexts,
        annotators=annotators,
        criteria=criteria,
        pairwise=pairwise,
        rankings=rankings,
        ratings=ratings,
        item_text={x: f"text of {x}" for x in items.names if draw(st.booleans())},
        context_text={c: f"prompt {c}" for c in contexts.names},
        annotator_kind={x: ("model" if x.startswith("m") else "human") for x in annotators.names},
        annotator_groups={x: {"country": "FR"} for x in annotators.names if x == "h2"},
    )


def dump(path: Path) -> list[str]:
    """Every row of every table (the import times aside, which differ by the clock)."""
    conn = sqlite3.connect(path)
    conn.execute("UPDATE imports SET time = ''")
    out = list(conn.iterdump())
    conn.rollback()
    conn.close()
    return out


def store_with(path: Path, batches: list[Dataset], how: str) -> str | None:
    """Import ``batches`` one after the other with lookup ``how`` (``append`` = the service's append_dataset
    with the small lookup); the message of the first refused batch, or None."""
    with ProjectStore(path) as store:
        for i, ds in enumerate(batches):
            try:
                if how == "append":
                    conn = store.conn
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        imp = Wr.new_import(conn, source=f"batch{i}")
                        Wr.append_dataset(conn, ds, import_id=imp, lookup="small")
                        conn.execute("COMMIT")
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                else:
                    store.import_dataset(ds, source=f"batch{i}", lookup=how)
            except InputError as exc:
                return str(exc)
    return None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=datasets(), second=datasets(id_prefix="j"))
def test_small_and_bulk_lookups_give_identical_stores(first: Dataset, second: Dataset) -> None:
    with tempfile.TemporaryDirectory() as d:
        paths = {how: Path(d) / f"{how}.db" for how in ("small", "bulk", "append")}
        errors = {how: store_with(p, [first, second, first], how) for how, p in paths.items()}
        assert errors["small"] == errors["bulk"] == errors["append"]
        small, bulk = dump(paths["small"]), dump(paths["bulk"])
        assert small == bulk
        # the service's append writes the same entities and judgments (its import records carry no meta)
        assert [r for r in dump(paths["append"]) if "imports" not in r] == [
            r for r in small if "imports" not in r
        ]


def test_lookup_is_chosen_by_size_and_named(tmp_path: Path) -> None:
    from prefkit.errors import ValidationError
    from prefkit.storage.lookup import SMALL, InLookup, StagedLookup, choose

    assert isinstance(choose(10, 10), InLookup) and isinstance(choose(SMALL + 1, 10), StagedLookup)
    assert isinstance(choose(10, SMALL + 1), StagedLookup) and isinstance(
        choose(10**6, 10, "small"), InLookup
    )
    with (
        ProjectStore(tmp_path / "p.db") as store,
        pytest.raises(ValidationError, match="auto, small or bulk"),
    ):
        store.import_dataset(Dataset(), lookup="fast")


# -- timestamps: a column, through import and export -------------------------------------------------------


def _iso(t: str) -> float:
    """The oracle: Python's own datetime (UTC when no zone is written)."""
    d = datetime.fromisoformat(t)
    return (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp()


def test_timestamps_round_trip_through_import_and_export(tmp_path: Path) -> None:
    src = tmp_path / "judged.jsonl"
    recs = [
        {"type": "pairwise", "a": "x", "b": "y", "outcome": "a", "tstamp": 1700000000.25},
        {"type": "pairwise", "a": "y", "b": "z", "outcome": "tie", "tstamp": "2024-03-01T12:00:00Z"},
        {"type": "pairwise", "a": "x", "b": "z", "outcome": "b"},
        {"type": "ranking", "ranking": ["x", ["y", "z"]], "tstamp": "2024-03-01T12:00:00+02:00"},
        {"type": "ranking", "ranking": ["z", "x"]},
        {"type": "rating", "item": "x", "score": 3, "scale": [1, 5], "tstamp": "2024-03-02 08:30:00"},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    nan = float("nan")
    want_pw = [1700000000.25, _iso("2024-03-01T12:00:00+00:00"), nan]
    want_rk = [_iso("2024-03-01T12:00:00+02:00"), nan]
    want_rt = [_iso("2024-03-02T08:30:00")]
    db = tmp_path / "p.db"
    assert main_code(["import", str(src), "--db", str(db)]) == 0
    with ProjectStore(db) as store:
        back = store.to_dataset()
        raw = store.conn.execute("SELECT tstamp FROM pairwise ORDER BY seq").fetchall()
    assert raw == [(want_pw[0],), (want_pw[1],), (None,)]  # NULL, not nan, in SQLite
    np.testing.assert_array_equal(back.pairwise.tstamp, want_pw)
    np.testing.assert_array_equal(back.rankings.tstamp, want_rk)
    np.testing.assert_array_equal(back.ratings.tstamp, want_rt)
    out = tmp_path / "out.jsonl"
    assert main_code(["export", "--db", str(db), str(out), "--to", "jsonl"]) == 0
    written = [json.loads(line) for line in out.read_text().splitlines()]
    judged = [r for r in written if r["type"] in ("pairwise", "ranking", "rating")]
    assert [r.get("tstamp") for r in judged] == [*want_pw[:2], None, want_rk[0], None, *want_rt]
    again = io.read(out)
    np.testing.assert_array_equal(again.rankings.tstamp, want_rk)
    # the export is the same data: importing it adds nothing
    with ProjectStore(db) as store:
        assert store.import_file(out).added == 0
    arena = tmp_path / "out.csv"
    pairs_only = tmp_path / "pairs.jsonl"
    pairs_only.write_text("".join(json.dumps(r) + "\n" for r in recs[:3]))
    db2 = tmp_path / "q.db"
    assert main_code(["import", str(pairs_only), "--db", str(db2)]) == 0
    assert main_code(["export", "--db", str(db2), str(arena), "--to", "arena"]) == 0
    with open(arena, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["tstamp"]) if r["tstamp"] else None for r in rows] == [*want_pw[:2], None]


def test_arena_tstamp_column_is_stored(tmp_path: Path) -> None:
    log = tmp_path / "battles.jsonl"
    rows = [
        {"model_a": "m1", "model_b": "m2", "winner": "model_a", "tstamp": 1712345678.5},
        {"model_a": "m2", "model_b": "m3", "winner": "tie"},
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with ProjectStore(tmp_path / "p.db") as store:
        store.import_file(log)
        got = store.conn.execute("SELECT tstamp FROM pairwise ORDER BY seq").fetchall()
    assert got == [(1712345678.5,), (None,)]


def test_a_different_time_is_a_different_judgment_for_every_shape(tmp_path: Path) -> None:
    items = ItemIndex(["x", "y"])
    rk = RankingTable.from_lists([[[0], [1]]])
    rt = RatingTable.build([0], [3.0], [1.0], [5.0])
    with ProjectStore(tmp_path / "p.db") as store:
        assert store.import_dataset(Dataset(items=items, rankings=rk, ratings=rt)).added == 2
        timed = Dataset(
            items=items,
            rankings=RankingTable.from_lists([[[0], [1]]], tstamp=[5.0]),
            ratings=RatingTable.build([0], [3.0], [1.0], [5.0], tstamp=[5.0]),
        )
        assert store.import_dataset(timed).added == 2
        assert store.import_dataset(timed).added == 0


def test_rows_without_time_keep_the_keys_of_earlier_stores() -> None:
    """Rankings and ratings fold the time in only where it is known: untimed rows keep their pre-v3 keys."""
    ds = Dataset(
        items=ItemIndex(["x", "y"]),
        rankings=RankingTable.from_lists([[[0], [1]], [[1], [0]]], tstamp=[np.nan, 7.0]),
    )
    keys = K.ranking_keys(ds, ds.rankings)
    cache: K.Lanes = {}
    old_fields = [
        K._text_field(__import__("pyarrow").array(["x\x1dy", "y\x1dx"])),
        K._name_field(ds.contexts, ds.rankings.context, cache),
        K._name_field(ds.annotators, ds.rankings.annotator, cache),
        K._name_field(ds.criteria, ds.rankings.criterion, cache),
    ]
    d1, d2 = K._fold(b"prefkit.ranking.v1", 2, old_fields)
    assert (keys.d1[0], keys.d2[0]) == (d1[0], d2[0])
    assert (keys.d1[1], keys.d2[1]) != (d1[1], d2[1])


def test_bad_timestamps_are_refused_with_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"type": "pairwise", "a": "x", "b": "y", "outcome": "a", "tstamp": "soon"}) + "\n"
    )
    with pytest.raises(InputError, match=r"bad.jsonl:1: 'tstamp': 'soon' is neither Unix seconds"):
        io.read(bad)
    crowd = tmp_path / "c.csv"
    crowd.write_text("left,right,winner,worker,tstamp\nx,y,left,w1,yesterday\n")
    with pytest.raises(InputError, match=r"c.csv:2: tstamp"):
        io.read(crowd)


# -- crowd workers are human; an export that matches nothing says so ---------------------------------------


def main_code(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as ex:
        return int(ex.code or 0)
    return 0


def test_crowd_import_then_export_human(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crowd = tmp_path / "votes.csv"
    crowd.write_text(
        "id,prompt,model_x,model_y,worker,winner,left,right\n"
        "0,8,1,2,58,tie,A,B\n0,8,1,2,83,left,A,B\n1,9,2,3,,right,B,C\n"
    )
    db = tmp_path / "p.db"
    assert main_code(["import", str(crowd), "--db", str(db)]) == 0
    out = tmp_path / "human.jsonl"
    capsys.readouterr()
    assert main_code(["export", "--db", str(db), str(out), "--annotator-kind", "human", "--to", "arena"]) == 0
    assert [json.loads(x)["judge"] for x in out.read_text().splitlines()] == ["58", "83"]
    before = out.read_bytes()
    code = main_code(["export", "--db", str(db), str(out), "--annotator-kind", "model"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "no judgments match annotator kind model" in err
    assert "human 2" in err and "no annotator 1" in err and "overall 3" in err and str(crowd) in err
    assert out.read_bytes() == before  # nothing written


@pytest.mark.shared_data
def test_real_crowd_votes_export_as_human(shared_data: Path, tmp_path: Path) -> None:
    crowd = shared_data / "llmfao" / "crowd-comparisons.csv"
    with open(crowd, encoding="utf-8", newline="") as fh:
        votes = [r for r in csv.DictReader(fh)]
    with_worker = sum(1 for r in votes if r["worker"])
    db = tmp_path / "p.db"
    assert main_code(["import", str(crowd), "--db", str(db)]) == 0
    out = tmp_path / "human.csv"
    assert main_code(["export", "--db", str(db), str(out), "--annotator-kind", "human", "--to", "crowd"]) == 0
    with open(out, encoding="utf-8", newline="") as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == with_worker == 8931


def test_library_no_match_lists_what_exists(tmp_path: Path) -> None:
    with ProjectStore(tmp_path / "p.db") as store:
        with pytest.raises(DataProblemError, match="the store holds no judgments; import some first"):
            store.to_dataset(empty_ok=False)
        ds = Dataset(items=ItemIndex(["x", "y"]), pairwise=PairwiseTable.build([0], [1], [0]))
        store.import_dataset(ds, source="mem")
        assert store.to_dataset(annotator_kind="human").n_judgments == 0  # the library default stays lenient
        with pytest.raises(
            DataProblemError, match="by annotator kind: no annotator 1; by criterion: overall 1"
        ):
            store.to_dataset(annotator_kind="human", empty_ok=False)
        with pytest.raises(DataProblemError, match="no judgments match shapes rankings"):
            store.to_dataset(shapes=["rankings"], empty_ok=False)


# -- bad inputs: a truncated file leaves the store byte-for-byte unchanged ---------------------------------


def snapshot(path: Path) -> tuple[str, list[str]]:
    conn = sqlite3.connect(path)
    rows = list(conn.iterdump())
    conn.close()
    return hashlib.sha256(path.read_bytes()).hexdigest(), rows


@pytest.mark.parametrize("kind", ["jsonl", "gzip", "parquet"])
def test_truncated_file_mid_import_leaves_store_unchanged(tmp_path: Path, kind: str) -> None:
    db = tmp_path / "p.db"
    rng = np.random.default_rng(0)
    rows = [
        {"model_a": f"m{a}", "model_b": f"m{(a + 1) % 9}", "winner": "model_a", "tstamp": 1.7e9 + i}
        for i, a in enumerate(rng.integers(0, 9, 20_000).tolist())
    ]
    with ProjectStore(db) as store:
        first = tmp_path / "first.jsonl"
        first.write_text("".join(json.dumps(r) + "\n" for r in rows[:100]))
        store.import_file(first)
    before = snapshot(db)
    text = "".join(json.dumps(r) + "\n" for r in rows)
    whole = tmp_path / f"whole.{kind}"
    if kind == "jsonl":
        whole.write_text(text)
    elif kind == "gzip":
        whole.write_bytes(gzip.compress(text.encode()))
    else:
        io.write(io.read(_write(tmp_path / "all.jsonl", text)), whole, "arena")
    data = whole.read_bytes()
    cut = tmp_path / f"cut.{kind}"
    cut.write_bytes(data[: len(data) * 2 // 3 + 7])  # cut in the middle of a record
    with ProjectStore(db) as store, pytest.raises((InputError, FormatError)) as info:
        store.import_file(cut)
    msg = str(info.value)
    assert msg.startswith(str(cut)) and "Traceback" not in msg
    if kind == "jsonl":
        assert "is the file truncated?" in msg
    if kind == "gzip":
        assert "is the .gz file complete?" in msg
    assert snapshot(db) == before


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- progress: one callback through import_file; plain lines when stderr is not a terminal -----------------


def test_import_file_reports_both_stages(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "b.jsonl",
        "".join(json.dumps({"model_a": "x", "model_b": "y", "winner": "tie"}) + "\n" for _ in range(5)),
    )
    seen: list[tuple[str, float | None, int]] = []

    from contextlib import contextmanager

    @contextmanager
    def progress(description: str, total: float | None = None):  # type: ignore[no-untyped-def]
        done = [0]
        yield lambda n=1: done.__setitem__(0, done[0] + n)
        seen.append((description, total, done[0]))

    with ProjectStore(tmp_path / "p.db") as store:
        store.import_file(log, progress=progress)
    assert seen == [("reading b.jsonl", None, 5), ("storing into p.db", 5.0, 5)]


def test_plain_progress_lines_when_piped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_common, "PROGRESS_EVERY_S", 0.0)
    log = Path(__file__).resolve().parents[2] / "src" / "prefkit" / "examples" / "battles.jsonl"
    assert main_code(["import", str(log), "--db", str(tmp_path / "p.db")]) == 0
    err = capsys.readouterr().err
    assert "reading battles.jsonl: 3,000" in err
    assert "storing into p.db: 3,000/3,000 (100%)" in err
