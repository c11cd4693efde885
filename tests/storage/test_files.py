"""Files through the store: import twice -> unchanged, export -> read back equals the source, the CLI, and a
Hypothesis round trip store -> dataset -> store."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefkit.cli.main import main
from prefkit.data import io
from prefkit.data.index import ItemIndex
from prefkit.data.model import Dataset, PairwiseTable, RankingTable, RatingTable
from prefkit.storage.store import ProjectStore

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "prefkit" / "examples" / "battles.jsonl"
WINNER = {"model_a": 0, "model_b": 1, "tie": 2, "tie (bothbad)": 3}


def battles_of(path: Path) -> list[tuple[str, str, str, str | None]]:
    """(model_a, model_b, winner, id) rows parsed with the json module: the oracle for file contents."""
    with open(path, encoding="utf-8") as fh:
        return [(r["model_a"], r["model_b"], r["winner"], r.get("id")) for r in map(json.loads, fh)]


def battles_in(ds: Dataset) -> list[tuple[str, str, str, str | None]]:
    label = {v: k for k, v in WINNER.items()}
    pw = ds.pairwise
    return [
        (ds.items.name(a), ds.items.name(b), label[o], i)
        for a, b, o, i in zip(
            pw.a.tolist(), pw.b.tolist(), pw.outcome.tolist(), pw.ids.to_pylist(), strict=True
        )
    ]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as ex:
        code = int(ex.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_example_log_import_twice_and_export_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "p.db"
    code, out, _ = run(["import", str(EXAMPLE), "--db", str(db), "--format", "json"], capsys)
    first = json.loads(out)
    assert code == 0 and first["pairwise"] == {"added": 3000, "duplicates": 0} and first["format"] == "arena"
    code, out, _ = run(["import", str(EXAMPLE), "--db", str(db), "--format", "json"], capsys)
    second = json.loads(out)
    assert second["added"] == 0 and second["duplicates"] == 3000 and second["store"]["pairwise"] == 3000
    assert second["sha256"] == first["sha256"]
    truth = battles_of(EXAMPLE)
    with ProjectStore(db) as store:
        assert battles_in(store.to_dataset()) == truth
    for name, to in [("a.jsonl", "arena"), ("a.parquet", "arena"), ("a.csv", "arena"), ("p.jsonl", "jsonl")]:
        out_path = tmp_path / name
        code, out, err = run(["export", "--db", str(db), str(out_path), "--to", to], capsys)
        assert code == 0, err
        assert battles_in(io.read(out_path)) == truth, name
        # and importing the export adds nothing
        code, out, err = run(["import", str(out_path), "--db", str(db), "--format", "json"], capsys)
        assert code == 0 and json.loads(out)["added"] == 0, (name, err)


def test_export_filters_and_pairwise_only_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = ItemIndex(["x", "y", "z"])
    ds = Dataset(
        items=items,
        criteria=ItemIndex(["overall", "helpful"]),
        annotators=ItemIndex(["h", "m"]),
        annotator_kind={"h": "human", "m": "model"},
        pairwise=PairwiseTable.build(
            [0, 1, 2], [1, 2, 0], [0, 1, 2], criterion=[0, 1, 0], annotator=[0, 1, 1]
        ),
        rankings=RankingTable.from_lists([[[0], [1], [2]]]),
    )
    db = tmp_path / "p.db"
    with ProjectStore(db) as store:
        store.import_dataset(ds, source="mem")
    out = tmp_path / "o.jsonl"
    code, stdout, err = run(
        ["export", "--db", str(db), str(out), "--to", "arena", "--criterion", "overall", "--format", "json"],
        capsys,
    )
    res = json.loads(stdout)
    assert code == 0 and res["rows"] == 2 and res["skipped_rankings"] == 1
    assert [(r[0], r[1]) for r in battles_of(out)] == [("x", "y"), ("z", "x")]
    code, stdout, err = run(
        ["export", "--db", str(db), str(out), "--to", "arena", "--annotator-kind", "model"], capsys
    )
    assert code == 0 and "left out 0 rankings" not in err
    assert [r[2] for r in battles_of(out)] == ["model_b", "tie"]
    code, _, err = run(["export", "--db", str(db), str(out), "--criterion", "harmless"], capsys)
    assert code == 2 and "criterion 'harmless' is not in the store" in err


def test_cli_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    cases = [
        (["import", str(tmp_path), "--db", str(tmp_path / "p.db")], "is a directory; give a data file"),
        (["import", str(tmp_path / "none.jsonl"), "--db", str(tmp_path / "p.db")], "no such file"),
        (["import", str(EXAMPLE), "--db", str(tmp_path)], "is a directory; give the path of a SQLite file"),
        (["import", str(EXAMPLE), "--db", str(text)], "not a SQLite database"),
        (["export", "--db", str(tmp_path / "none.db"), str(tmp_path / "o.jsonl")], "no such store"),
        (
            ["import", str(EXAMPLE), "--db", str(tmp_path / "p.db"), "--from", "excel"],
            "unknown format 'excel'",
        ),
        (["import", str(EXAMPLE), "--db", str(tmp_path / "q.db"), "--format", "xml"], "--format must be"),
    ]
    for args, message in cases:
        code, _, err = run(args, capsys)
        assert code == 2 and message in err and "Traceback" not in err, args
    assert not (tmp_path / "p.db").exists() and not (tmp_path / "none.db").exists()


def test_cli_duplicate_id_with_other_content(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    day1, day2 = tmp_path / "day1.jsonl", tmp_path / "day2.jsonl"
    day1.write_text(json.dumps({"id": "b1", "model_a": "x", "model_b": "y", "winner": "model_a"}) + "\n")
    day2.write_text(
        json.dumps({"id": "b2", "model_a": "x", "model_b": "y", "winner": "tie"})
        + "\n"
        + json.dumps({"id": "b1", "model_a": "x", "model_b": "y", "winner": "model_b"})
        + "\n"
    )
    db = tmp_path / "p.db"
    assert run(["import", str(day1), "--db", str(db)], capsys)[0] == 0
    code, _, err = run(["import", str(day2), "--db", str(db)], capsys)
    assert code == 2
    assert (
        f"{day2}:2: judgment id 'b1' is already in the store with different content (from {day1} line 1)"
        in err
    )
    with ProjectStore(db) as store:
        assert store.counts().pairwise == 1


def test_console_script_import_shows_counts(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("prefkit")
    db = tmp_path / "p.db"
    res = subprocess.run(
        [str(exe), "import", str(EXAMPLE), "--db", str(db)], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert "pairwise: 3,000 added, 0 already present" in res.stdout


@pytest.mark.shared_data
def test_real_logs_every_row_stored_once(shared_data: Path, tmp_path: Path) -> None:
    crowd = shared_data / "llmfao" / "crowd-comparisons.csv"
    hh = shared_data / "hh-rlhf" / "harmless-base-test.jsonl.gz"
    with open(crowd, encoding="utf-8", newline="") as fh:
        n_votes = sum(1 for _ in csv.DictReader(fh))
    with gzip.open(hh, "rt", encoding="utf-8") as fh:
        n_pairs = sum(1 for line in fh if line.strip())
    with ProjectStore(tmp_path / "p.db") as store:
        r = store.import_file(crowd)
        assert r.pairwise.added == n_votes == 8931  # repeated votes by the same worker are kept (occurrence)
        h = store.import_file(hh, strict=False)
        bad_lines = {ln for ln, _ in io.read(hh, strict=False).meta["skipped"]}
        skipped = len(bad_lines)
        assert h.pairwise.added == n_pairs - skipped
        again = store.import_file(crowd)
        assert again.added == 0 and again.duplicates == n_votes
        assert store.counts().pairwise == n_votes + n_pairs - skipped
        trl = store.to_dataset(source=str(hh))
    assert len(trl.pairwise) == n_pairs - skipped
    out = tmp_path / "hh-trl.jsonl"
    io.write(trl, out, "trl")
    with open(out, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    with gzip.open(hh, "rt", encoding="utf-8") as fh:
        source = [json.loads(line) for line in fh]
    kept = [s for i, s in enumerate(source, start=1) if i not in bad_lines]
    assert [r["prompt"] + r["chosen"] for r in rows] == [s["chosen"] for s in kept]


# -- Hypothesis: store -> dataset -> store ------------------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "c", "d", "é", "x y", ""])


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    items = ItemIndex(draw(st.lists(NAMES, min_size=2, max_size=5, unique=True)))
    contexts = ItemIndex(draw(st.lists(st.sampled_from(["p1", "p2", "p3"]), max_size=3, unique=True)))
    annotators = ItemIndex(draw(st.lists(st.sampled_from(["h1", "h2", "m1"]), max_size=3, unique=True)))
    criteria = ItemIndex(draw(st.sampled_from([["overall"], ["overall", "helpful"], ["harmless"]])))
    attributes = ItemIndex(draw(st.sampled_from([[], ["verbosity"]])))
    ni, nc, na, ncr, nat = len(items), len(contexts), len(annotators), len(criteria), len(attributes)
    code = lambda n: st.integers(0, n - 1)  # noqa: E731
    opt = lambda n: st.integers(-1, n - 1)  # noqa: E731
    n_pw = draw(st.integers(0, 12))
    rows = draw(
        st.lists(
            st.tuples(
                code(ni),
                code(ni),
                st.integers(0, 3),
                st.one_of(st.just(float("nan")), st.integers(-3, 3).map(float)),
                opt(nc),
                opt(na),
                code(ncr),
                st.sampled_from([1.0, 0.5]),
                st.one_of(st.none(), st.sampled_from(["because", "é"])),
            ),
            min_size=n_pw,
            max_size=n_pw,
        )
    )
    with_ids = draw(st.booleans())
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in range(9)]
    pairwise = PairwiseTable.build(
        np.asarray(cols[0], dtype=np.int32),
        np.asarray(cols[1], dtype=np.int32),
        np.asarray(cols[2], dtype=np.int8),
        strength=np.asarray(cols[3], dtype=np.float64),
        context=np.asarray(cols[4], dtype=np.int32),
        annotator=np.asarray(cols[5], dtype=np.int32),
        criterion=np.asarray(cols[6], dtype=np.int32),
        weight=np.asarray(cols[7], dtype=np.float64),
        rationale=list(cols[8]),
        ids=[f"p{i}" for i in range(n_pw)] if with_ids else None,
        line=np.arange(1, n_pw + 1),
    )
    rankings = draw(
        st.lists(
            st.permutations(range(ni)).flatmap(
                lambda p: st.lists(st.integers(1, 2), min_size=1, max_size=len(p)).map(
                    lambda cuts: _groups(p, cuts)
                )
            ),
            max_size=4,
        )
    )
    n_rt = draw(st.integers(0, 5))
    ratings = RatingTable.build(
        draw(st.lists(code(ni), min_size=n_rt, max_size=n_rt)),
        draw(st.lists(st.sampled_from([1.0, 2.5, 7.0]), min_size=n_rt, max_size=n_rt)),
        np.ones(n_rt),
        np.full(n_rt, 7.0),
        attribute=draw(st.lists(opt(nat), min_size=n_rt, max_size=n_rt)) if n_rt else None,
        criterion=draw(st.lists(code(ncr), min_size=n_rt, max_size=n_rt)) if n_rt else None,
        line=np.arange(100, 100 + n_rt),
    )
    return Dataset(
        items=items,
        contexts=contexts,
        annotators=annotators,
        criteria=criteria,
        attributes=attributes,
        pairwise=pairwise,
        rankings=RankingTable.from_lists(
            rankings, criterion=[0] * len(rankings), line=np.arange(50, 50 + len(rankings))
        ),
        ratings=ratings,
        item_text={n: f"text of {n}" for n in items.names[:2]},
        annotator_kind={n: ("model" if n.startswith("m") else "human") for n in annotators.names},
    )


def _groups(perm: list[int], cuts: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    i = 0
    for c in cuts:
        if i >= len(perm):
            break
        out.append(list(perm[i : i + c]))
        i += c
    if i < len(perm):
        out.append(list(perm[i:]))
    return out


def _same(x: Dataset, y: Dataset) -> None:
    assert x.pairwise.equals(y.pairwise)
    assert x.rankings.equals(y.rankings) and np.array_equal(x.rankings.level, y.rankings.level)
    assert x.ratings.equals(y.ratings)
    for name in ("items", "contexts", "annotators", "criteria", "attributes"):
        assert getattr(x, name) == getattr(y, name), name
    assert x.item_text == y.item_text and x.annotator_kind == y.annotator_kind


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ds=datasets())
def test_round_trip_store_dataset_store(ds: Dataset) -> None:
    with tempfile.TemporaryDirectory() as d:
        with ProjectStore(Path(d) / "one.db") as one:
            r = one.import_dataset(ds)
            assert r.added == ds.n_judgments  # anonymous repeats are kept, ids are unique
            assert one.conn.execute("PRAGMA foreign_key_check").fetchall() == []
            back = one.to_dataset()
            _same(back, ds)
            assert one.import_dataset(back).added == 0
        with ProjectStore(Path(d) / "two.db") as two:
            assert two.import_dataset(back).added == ds.n_judgments
            _same(two.to_dataset(), ds)


def test_system_messages_go_through_the_store_from_trl_to_trl(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A TRL file with a ``system`` field (Janus) imported into a store exports with the same system messages;
    a file with it on some rows only is refused naming the row, and the store keeps what it held."""
    rows = [
        {"system": "Answer in one word.", "prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."},
        {"system": "Explain at length.", "prompt": "Cats?", "chosen": "Cats are small carnivores.", "rejected": "Cats."},
    ]
    src = tmp_path / "janus.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = tmp_path / "p.db"
    assert run(["import", str(src), "--db", str(db)], capsys)[0] == 0
    out = tmp_path / "back.jsonl"
    assert run(["export", "--db", str(db), str(out), "--to", "trl"], capsys)[0] == 0
    assert [json.loads(x) for x in out.read_text().splitlines()] == rows
    bad = tmp_path / "some.jsonl"
    bad.write_text(json.dumps(rows[0]) + "\n" + json.dumps({k: v for k, v in rows[1].items() if k != "system"}) + "\n")
    code, _, err = run(["import", str(bad), "--db", str(db)], capsys)
    assert code == 2 and "some.jsonl:2:" in err and "system" in err
    with ProjectStore(db) as store:
        assert len(store.to_dataset().pairwise) == 2
