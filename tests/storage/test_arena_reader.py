"""One arena reader: ``prefkit rank`` (DuckDB fast path, or the row reader without DuckDB) and ``prefkit validate``
accept and refuse exactly the same files, with the same ``FILE:LINE`` message.

The corpus covers every bad label the old DuckDB scan let through (aliases, case, blank or null names, text
timestamps, bad weights, duplicate ids) in JSON lines, CSV and Parquet, plus the syntax where DuckDB is more
lenient than the row reader. "DuckDB not installed" is simulated the way Python itself defines it:
``sys.modules['duckdb'] = None`` makes ``import duckdb`` raise ImportError.
"""

from __future__ import annotations

import gzip
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prefkit.data import io
from prefkit.storage import arena_battles, arena_scan

BASE = [
    ("x", "y", "model_a"),
    ("y", "z", "model_a"),
    ("z", "x", "model_a"),
    ("y", "x", "tie"),
    ("x", "z", "model_b"),
    ("z", "y", "tie (bothbad)"),
]
BAD_AT = 3  # the bad record is the 4th


def rows(**extra: list[Any]) -> list[dict[str, Any]]:
    out = [{"model_a": a, "model_b": b, "winner": w} for a, b, w in BASE]
    for key, values in extra.items():
        for rec, v in zip(out, values, strict=True):
            if v is not _ABSENT:
                rec[key] = v
    return out


_ABSENT = object()


def bad(key: str, value: Any, **extra: list[Any]) -> list[dict[str, Any]]:
    out = rows(**extra)
    rec = dict(out[BAD_AT])
    rec[key] = value
    out[BAD_AT] = rec
    return out


GOOD = {
    "plain": rows(),
    "weights": rows(weight=[2.0, 1, None, 0.5, 0, 3]),
    "tstamps": rows(tstamp=[1.7e9, 1.7e9 + 1, None, 1.7e9 + 3, -5, 12]),
    "ids": rows(id=["a", "b", "c", "d", "e", "f"]),
    "spaced_names": [{**r, "model_a": " " + r["model_a"], "model_b": " " + r["model_b"]} for r in rows()],
    "unicode_names": [
        {**r, "model_a": r["model_a"] + "-modèle-α", "model_b": r["model_b"] + "-modèle-α"} for r in rows()
    ],
    "questions_judges": rows(
        question_id=["q1", "q2", None, "q1", "q2", "q3"], judge=["j", "k", "j", "", "k", "j"]
    ),
}
BAD = {
    "winner_a": (bad("winner", "a"), "unknown winner 'a'"),
    "winner_b": (bad("winner", "b"), "unknown winner 'b'"),
    "winner_bothbad": (bad("winner", "bothbad"), "unknown winner 'bothbad'"),
    "winner_both_bad": (bad("winner", "both_bad"), "unknown winner 'both_bad'"),
    "winner_upper": (bad("winner", "MODEL_A"), "unknown winner 'MODEL_A'"),
    "winner_case": (bad("winner", "Tie"), "unknown winner 'Tie'"),
    "winner_space": (bad("winner", "model_a "), "unknown winner 'model_a '"),
    "winner_null": (bad("winner", None), "missing value for winner"),
    "name_empty": (bad("model_a", ""), "missing value for model_a"),
    "name_spaces": (bad("model_a", "   "), "missing value for model_a"),
    "name_ideographic_space": (bad("model_b", "\u3000"), "missing value for model_b"),
    "name_null": (bad("model_a", None), "missing value for model_a"),
    "name_tab": (bad("model_b", "\t"), "missing value for model_b"),
    "self": (bad("model_b", "y"), "compared with itself"),
    "tstamp_text": (bad("tstamp", "yesterday", tstamp=[1.0] * 6), "tstamp 'yesterday' is not a number"),
    "tstamp_inf": (
        bad("tstamp", math.inf, tstamp=[1.0] * 6),
        ("tstamp inf is", "tstamp 'inf' is", "Infinity"),
    ),
    "weight_heavy": (bad("weight", "heavy", weight=[1.0] * 6), "weight 'heavy' is not a finite number"),
    "weight_negative": (
        bad("weight", -1.0, weight=[1.0] * 6),
        ("weight -1.0 is not", "weight '-1.0' is not"),
    ),
    "weight_nan": (bad("weight", math.nan, weight=[1.0] * 6), ("weight nan is not", "weight 'nan' is not")),
    "weight_inf": (
        bad("weight", math.inf, weight=[1.0] * 6),
        ("weight inf is", "weight 'inf' is", "Infinity"),
    ),
    "duplicate_id": (bad("id", "a", id=["a", "b", "c", "d", "e", "f"]), "judgment id 'a' appears twice"),
}
# JSON only: values a CSV cell or a Parquet column cannot hold
BAD_JSON = {
    "name_number": (bad("model_a", 3), "model_a is 3, not a name"),
    "winner_number": (bad("winner", 1), "unknown winner 1"),
    "winner_list": (bad("winner", ["model_a"]), "unknown winner ['model_a']"),
    "weight_bool": (bad("weight", True, weight=[1.0] * 6), "weight True is not a finite number"),
}


def _csv_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def write(path: Path, recs: list[dict[str, Any]]) -> Path:
    keys = list(dict.fromkeys(k for r in recs for k in r))
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")
    elif path.suffix == ".csv":
        lines = [",".join(keys)] + [",".join(_csv_cell(r.get(k)) for k in keys) for r in recs]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        cols = {}
        for k in keys:
            vals = [r.get(k) for r in recs]
            if any(isinstance(v, str) for v in vals) and not all(isinstance(v, str | None) for v in vals):
                vals = [None if v is None else _csv_cell(v) for v in vals]
            cols[k] = pa.array(vals)
        pq.write_table(pa.table(cols), path)
    return path


def bad_line(path: Path) -> int:
    return BAD_AT + (2 if path.suffix == ".csv" else 1)


@pytest.fixture(params=["duckdb", "no-duckdb"])
def engine(request, monkeypatch) -> str:
    if request.param == "no-duckdb":
        monkeypatch.setitem(sys.modules, "duckdb", None)
        assert not arena_scan.available()
    else:
        pytest.importorskip("duckdb")
    return request.param


def agree(cli: Callable[..., Any], path: Path, *rank_args: str) -> tuple[Any, Any]:
    """``validate`` and ``rank`` on one file: both succeed, or both fail with the same error line."""
    v = cli("validate", str(path))
    r = cli("rank", str(path), "--ci", "none", "--format", "json", *rank_args)
    assert v.code == r.code, (v, r)
    if v.code:
        assert v.code == 2 and v.err.startswith("error: ") and v.err.count("\n") == 1, v.err
        assert r.err == v.err, (r.err, v.err)
    return v, r


CONTAINERS = ["jsonl", "csv", "parquet"]


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_rows_refused_alike(tmp_path, cli, engine, container, case):
    recs, needle = BAD[case]
    path = write(tmp_path / f"{case}.{container}", recs)
    v, _ = agree(cli, path)
    assert v.code == 2
    assert v.err.startswith(f"error: {path}:{bad_line(path)}: "), v.err
    assert any(n in v.err for n in ((needle,) if isinstance(needle, str) else needle)), v.err
    for method in ("elo", "pl", "davidson"):  # the per-battle path refuses it too
        assert cli("rank", str(path), "--method", method, "--ci", "none").err == v.err


@pytest.mark.parametrize("case", sorted(BAD_JSON))
def test_bad_json_values_refused_alike(tmp_path, cli, engine, case):
    recs, needle = BAD_JSON[case]
    path = write(tmp_path / f"{case}.jsonl", recs)
    v, _ = agree(cli, path)
    assert v.err.startswith(f"error: {path}:{bad_line(path)}: ") and needle in v.err, v.err


def _ratings(res: Any) -> dict[str, float]:
    return {r["name"]: r["rating"] for r in json.loads(res.out)["leaderboard"]}


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("case", sorted(GOOD))
def test_good_files_accepted_alike(tmp_path, cli, container, case, monkeypatch):
    path = write(tmp_path / f"{case}.{container}", GOOD[case])
    v, fast = agree(cli, path)
    assert v.code == 0 and v.out.startswith(f"ok: {path} is valid arena: 6 judgments"), v
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "duckdb", None)
        _, slow = agree(cli, path)
    a, b = _ratings(fast), _ratings(slow)
    assert a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-9 for k in a)
    ds = io.read(path)
    weights = dict(
        zip(
            zip(ds.items.decode(ds.pairwise.a), ds.items.decode(ds.pairwise.b), strict=True),
            ds.pairwise.weight,
            strict=True,
        )
    )
    expected = {(r["model_a"], r["model_b"]): r.get("weight") for r in GOOD[case]}
    for pair, w in expected.items():
        assert weights[pair] == (1.0 if w is None else w)


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("case", ["plain", "weights", "tstamps", "ids", "unicode_names"])
def test_fast_path_vouches_for_clean_files(tmp_path, container, case, monkeypatch):
    """Clean files never reach the row reader: the fast path is real, not a detour."""
    pytest.importorskip("duckdb")
    path = write(tmp_path / f"{case}.{container}", GOOD[case])

    def refuse(p: Any) -> Any:
        raise AssertionError("the fast path fell back to the row reader")

    monkeypatch.setattr(arena_scan, "row_reader", refuse)
    table = arena_scan.scan_counts(path)
    battles = arena_battles.read_battles(path)
    ds = io.read(path)
    ref = io.read(path)
    assert table.names == tuple(sorted(ref.items.names)) == battles.names
    w = [1.0 if r.get("weight") is None else r["weight"] for r in GOOD[case]]
    assert table.n_battles == pytest.approx(sum(w))
    assert len(battles.a) == len(ds.pairwise)


# -- syntax where DuckDB is more lenient than the row reader (or reads differently) ---------------------

LINES = [json.dumps({"model_a": a, "model_b": b, "winner": w}) for a, b, w in BASE]


def _jsonl(tmp_path: Path, name: str, line: str, at: int = BAD_AT) -> Path:
    body = [*LINES[:at], line, *LINES[at:]]
    p = tmp_path / f"{name}.jsonl"
    p.write_text("\n".join(body) + "\n")
    return p


JSON_SYNTAX = {
    "infinity_elsewhere": ('{"model_a": "x", "model_b": "y", "winner": "tie", "score": Infinity}', 4),
    "trailing_comma": ('{"model_a": "x", "model_b": "y", "winner": "tie",}', 4),
    "not_an_object": ('["x", "y", "tie"]', 4),
    "null_line": ("null", 4),
    "truncated": ('{"model_a": "x", "model_b": "y", "win', 4),
    "duplicate_key_last_bad": ('{"model_a": "x", "model_b": "y", "winner": "tie", "winner": "draw"}', 4),
    "duplicate_key_last_good": ('{"model_a": "x", "model_b": "y", "winner": "draw", "winner": "tie"}', None),
    "nan_elsewhere": ('{"model_a": "x", "model_b": "y", "winner": "tie", "score": NaN}', None),
    "weight_text_number": ('{"model_a": "x", "model_b": "y", "winner": "tie", "weight": "2.5"}', None),
    "blank_lines": ("\n\n", None),
}


@pytest.mark.parametrize("case", sorted(JSON_SYNTAX))
def test_json_syntax_alike(tmp_path, cli, engine, case):
    line, expected = JSON_SYNTAX[case]
    path = _jsonl(tmp_path, case, line)
    v, _ = agree(cli, path)
    if expected is None:
        assert v.code == 0, v.err
    else:
        assert v.code == 2 and v.err.startswith(f"error: {path}:{expected}: "), v.err


CSV_SYNTAX = {
    "quoted_names": ('model_a,model_b,winner\n"x,1",y,model_a\ny,"x,1",model_b\n"x,1",y,tie\n', None),
    "space_after_quote": ('model_a,model_b,winner\n"x" ,y,model_a\ny,"x" ,model_b\n"x" ,y,tie\n', None),
    "ragged_row": ("model_a,model_b,winner\nx,y,model_a\nx,y\ny,x,tie\n", 3),
    "extra_field": ("model_a,model_b,winner\nx,y,model_a\nx,y,tie,z\ny,x,tie\n", 3),
    "carriage_returns_only": ("model_a,model_b,winner\rx,y,model_a\ry,x,tie\r", 1),
    "blank_first_line": ("\nmodel_a,model_b,winner\nx,y,model_a\ny,x,tie\n", 2),
    "whitespace_line": ("model_a,model_b,winner\nx,y,model_a\n   \ny,x,model_a\nx,y,tie\n", None),
    "crlf": ("model_a,model_b,winner\r\nx,y,model_a\r\ny,x,model_a\r\nx,y,tie\r\n", None),
    "empty_cells_row": ("model_a,model_b,winner\nx,y,model_a\n,,\ny,x,tie\n", 3),
    "header_spaces": ("model_a , model_b,winner\nx,y,model_a\ny,x,model_a\nx,y,tie\n", None),
    "header_quoted": ('"model_a","model_b",winner\nx,y,model_a\ny,x,model_a\nx,y,tie\n', None),
    "header_quoted_comma": (
        '"model_a","model_b",winner,"a,b"\nx,y,model_a,1\ny,x,model_a,2\nx,y,tie,3\n',
        None,
    ),
    "no_rows": ("model_a,model_b,winner\n", None),
}


@pytest.mark.parametrize("case", sorted(CSV_SYNTAX))
def test_csv_syntax_alike(tmp_path, cli, engine, case):
    text, expected = CSV_SYNTAX[case]
    path = tmp_path / f"{case}.csv"
    path.write_bytes(text.encode())
    v, _ = agree(cli, path)
    if case == "no_rows":
        assert v.code == 2 and "no judgments found" in v.err
    elif expected is None:
        assert v.code == 0, v.err
    else:
        assert v.code == 2 and v.err.startswith(f"error: {path}:{expected}: "), v.err


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_gzip_fast_path(tmp_path, cli, suffix, monkeypatch):
    pytest.importorskip("duckdb")
    plain = write(tmp_path / f"b.{suffix}", GOOD["weights"])
    gz = tmp_path / f"b.{suffix}.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    assert arena_scan.scan_counts(gz).cells.tolist() == arena_scan.scan_counts(plain).cells.tolist()
    bad_gz = tmp_path / f"bad.{suffix}.gz"
    bad_gz.write_bytes(
        gzip.compress(write(tmp_path / f"bad.{suffix}", BAD["winner_bothbad"][0]).read_bytes())
    )
    agree(cli, bad_gz)


def test_parquet_types(tmp_path, cli, engine):
    """Parquet column types: dictionary names and timestamps are fine; numbers as names are not."""
    good = tmp_path / "dict.parquet"
    tbl = pa.table(
        {
            "model_a": pa.array([r[0] for r in BASE]).dictionary_encode(),
            "model_b": pa.array([r[1] for r in BASE]).dictionary_encode(),
            "winner": pa.array([r[2] for r in BASE]).dictionary_encode(),
            "tstamp": pa.array(np.arange(6) * 10**9, pa.timestamp("ns")),
        }
    )
    pq.write_table(tbl, good)
    assert agree(cli, good)[0].code == 0
    ints = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"model_a": [1, 2], "model_b": [2, 1], "winner": ["model_a", "tie"]}), ints)
    v, _ = agree(cli, ints)
    assert v.err.startswith(f"error: {ints}:1: model_a is 1, not a name"), v.err


def test_style_control_needs_duckdb_and_a_vouched_file(tmp_path, cli, monkeypatch):
    pytest.importorskip("duckdb")
    recs = rows(style_length=[0.1, -0.2, 0.3, 0.0, 0.5, -0.1])
    path = write(tmp_path / "style.csv", recs)
    assert cli("rank", str(path), "--style-control", "--ci", "none").code == 0
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(path.read_text().replace("\nx,", '\n"x",'))
    res = cli("rank", str(quoted), "--style-control", "--ci", "none")
    assert res.code == 2 and "style control reads per-battle features with DuckDB" in res.err
    bad_style = write(tmp_path / "bad_style.csv", bad("winner", "a", style_length=[0.1] * 6))
    res = cli("rank", str(bad_style), "--style-control")
    assert res.err == cli("validate", str(bad_style)).err
    monkeypatch.setitem(sys.modules, "duckdb", None)
    res = cli("rank", str(path), "--style-control")
    assert res.code == 2 and "pip install" in res.err


def test_not_an_arena_log_is_not_swallowed(tmp_path, cli, engine):
    """Detection is the reader's: an unrecognised file is a FormatError, not 'try something else'."""
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b,c\n1,2,3\n")
    res = cli("rank", str(odd))
    assert res.code == 2 and res.err == cli("validate", str(odd)).err
    assert "cannot recognise the format" in res.err
    prefkit_jsonl = tmp_path / "pairs.jsonl"
    prefkit_jsonl.write_text(
        "".join(
            json.dumps(
                {
                    "type": "pairwise",
                    "a": a,
                    "b": b,
                    "outcome": {"model_a": "a", "model_b": "b"}.get(w, "tie"),
                }
            )
            + "\n"
            for a, b, w in BASE
        )
    )
    assert cli("rank", str(prefkit_jsonl), "--ci", "none").code == 0


@pytest.mark.parametrize("container", CONTAINERS)
def test_import_refuses_a_bad_weight_like_validate(tmp_path, cli, container):
    """The weight was dropped without a word by import; now every path refuses it at its line."""
    path = write(tmp_path / f"heavy.{container}", bad("weight", "heavy", weight=[0.5] * 6))
    db = tmp_path / "p.db"
    res = cli("import", str(path), "--db", str(db))
    # the same message; only the closing hint names each command's own way to skip bad rows
    assert res.code == 2 and res.err.rsplit(" (", 1)[0] == cli("validate", str(path)).err.rsplit(" (", 1)[0]
    assert f"{path}:{bad_line(path)}: weight 'heavy'" in res.err and not db.exists()
    res = cli("import", str(path), "--db", str(db), "--skip-bad", "--format", "json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["pairwise"]["added"] == 5
    assert [s["line"] for s in doc["skipped"]] == [bad_line(path)]
    out = tmp_path / "out.jsonl"
    assert cli("export", "--db", str(db), str(out), "--to", "arena").code == 0
    assert {json.loads(line)["weight"] for line in out.read_text().splitlines()} == {0.5}


def test_lenient_reading_skips_the_same_rows_in_every_container(tmp_path):
    """--skip-bad: the vectorised Parquet reader and the row reader skip the same rows for the same reasons."""
    recs = rows(id=["a", "b", "c", "d", "e", "f"], weight=[1.0] * 6)
    recs += [
        {"model_a": "x", "model_b": "y", "winner": "bothbad", "id": "g", "weight": 1.0},
        {"model_a": "x", "model_b": "y", "winner": "tie", "id": "a", "weight": 1.0},
        {"model_a": " ", "model_b": "y", "winner": "tie", "id": "h", "weight": 1.0},
        {"model_a": "x", "model_b": "y", "winner": "tie", "id": "i", "weight": -2.0},
        {"model_a": "y", "model_b": "y", "winner": "tie", "id": "j", "weight": 1.0},
        {"model_a": "x", "model_b": "z", "winner": "model_b", "id": "k", "weight": 0.25},
    ]
    got = {}
    for container in CONTAINERS:
        path = write(tmp_path / f"lenient.{container}", recs)
        ds = io.read(path, strict=False)
        offset = 1 if container == "csv" else 0
        # the reasons' first words (a CSV cell is text: weight '-2.0' there, -2.0 elsewhere)
        skipped = [(line - offset, reason.split()[0]) for line, reason in ds.meta["skipped"]]
        kept = list(
            zip(
                ds.items.decode(ds.pairwise.a),
                ds.items.decode(ds.pairwise.b),
                ds.pairwise.outcome.tolist(),
                ds.pairwise.weight.tolist(),
                ds.pairwise.ids.to_pylist(),
                strict=True,
            )
        )
        got[container] = (skipped, kept)
    assert got["jsonl"] == got["csv"] == got["parquet"]
    skipped, kept = got["jsonl"]
    assert skipped == [(7, "unknown"), (8, "judgment"), (9, "missing"), (10, "weight"), (11, "item")]
    assert len(kept) == 7 and kept[-1] == ("x", "z", 1, 0.25, "k")
