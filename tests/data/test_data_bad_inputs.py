"""A corpus of bad inputs: each gives a typed error with FILE:LINE and a message saying what to fix,
from the library and from the CLI (exit status 2, one line on stderr, no traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prefkit.cli.main import main
from prefkit.data import io
from prefkit.errors import FormatError, InputError

ARENA_HEAD = "model_a,model_b,winner\n"

# (name, file name, content, error type, line, fragment of the message)
CASES = [
    ("empty file", "e.jsonl", b"", FormatError, None, "the file is empty"),
    ("blank file", "e.csv", b"\n  \n", FormatError, None, "the file is empty"),
    (
        "truncated JSON",
        "t.jsonl",
        b'{"model_a": "x", "model_b": "y", "winner": "tie"}\n{"model_a": "x", "model_b": "y", "win',
        InputError,
        2,
        "invalid JSON",
    ),
    ("binary garbage", "g.jsonl", bytes(range(256)) * 4, FormatError, None, "binary file"),
    ("missing columns", "m.csv", b"model_a,model_b\nx,y\n", FormatError, 1, "missing column(s)"),
    (
        "unknown winner label",
        "w.csv",
        (ARENA_HEAD + "x,y,model_a\nx,y,draw\n").encode(),
        InputError,
        3,
        "unknown winner 'draw'",
    ),
    (
        "item compared with itself",
        "s.csv",
        (ARENA_HEAD + "x,y,tie\nx,x,model_a\n").encode(),
        InputError,
        3,
        "compared with itself",
    ),
    (
        "NaN rating",
        "n.jsonl",
        b'{"type": "rating", "item": "x", "score": NaN, "scale": [1, 7]}\n',
        InputError,
        1,
        "NaN",
    ),
    (
        "out-of-scale rating",
        "o.jsonl",
        b'{"type": "rating", "item": "x", "score": 1, "scale": [1, 7]}\n'
        b'{"type": "rating", "item": "x", "score": 9, "scale": [1, 7]}\n',
        InputError,
        2,
        "outside the scale [1, 7]",
    ),
    (
        "ranking with one item",
        "r.jsonl",
        b'{"type": "ranking", "ranking": ["x"]}\n',
        InputError,
        1,
        "at least 2 items",
    ),
    (
        "duplicate judgment ids",
        "d.jsonl",
        b'{"type": "pairwise", "a": "x", "b": "y", "outcome": "a", "id": "j1"}\n'
        b'{"type": "pairwise", "a": "y", "b": "z", "outcome": "b", "id": "j1"}\n',
        InputError,
        2,
        "'j1' appears twice (first on line 1)",
    ),
    (
        "mixed encodings",
        "u.csv",
        (ARENA_HEAD + "x,y,tie\n").encode() + "caf\xe9,y,tie\n".encode("latin-1"),
        InputError,
        3,
        "re-save the file as UTF-8",
    ),
    (
        "unknown prefkit outcome",
        "p.jsonl",
        b'{"type": "pairwise", "a": "x", "b": "y", "outcome": "draw"}\n',
        InputError,
        1,
        "unknown outcome 'draw'",
    ),
    (
        "unknown crowd winner",
        "c.csv",
        b"left,right,winner,worker\nx,y,left,w1\nx,y,both,w2\n",
        InputError,
        3,
        "unknown winner 'both'",
    ),
    (
        "csv with a missing field",
        "f.csv",
        (ARENA_HEAD + "x,y\n").encode(),
        InputError,
        2,
        "expected 3 fields",
    ),
    ("unrecognised columns", "q.csv", b"foo,bar\n1,2\n", FormatError, 1, "cannot recognise the format"),
    ("json array", "a.jsonl", b'[{"model_a": "x"}]\n', FormatError, 1, "one JSON array"),
    ("header only", "h.csv", ARENA_HEAD.encode(), FormatError, None, "no judgments found"),
    (
        "strength out of range",
        "st.jsonl",
        b'{"type": "pairwise", "a": "x", "b": "y", "outcome": "a", "strength": 5}\n',
        InputError,
        1,
        "outside [-3, 3]",
    ),
]
IDS = [c[0] for c in CASES]


def _write(tmp_path: Path, fname: str, content: bytes) -> Path:
    path = tmp_path / fname
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_library_error(tmp_path: Path, case: tuple) -> None:
    _, fname, content, etype, line, fragment = case
    path = _write(tmp_path, fname, content)
    with pytest.raises(etype) as info:
        io.read(path)
    err = info.value
    assert err.path == str(path)
    assert err.line == line
    prefix = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(err).startswith(prefix)
    assert fragment in str(err)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli_error(tmp_path: Path, case: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    _, fname, content, _, line, fragment = case
    path = _write(tmp_path, fname, content)
    with pytest.raises(SystemExit) as info:
        main(["validate", str(path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert fragment in err
    if line is not None:
        assert f"{path}:{line}: " in err


def test_cli_subprocess_no_traceback(tmp_path: Path) -> None:
    path = _write(tmp_path, "w.csv", (ARENA_HEAD + "x,y,draw\n").encode())
    exe = Path(sys.executable).parent / "prefkit"
    for args, hint in (
        (["validate", str(path)], " (prefkit info FILE --skip-bad lists every bad row)"),
        (["info", str(path), "--format", "json"], " (or pass --skip-bad to skip such rows)"),
        (["convert", str(path), str(tmp_path / "o.jsonl")], " (or pass --skip-bad to skip such rows)"),
    ):
        proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == ""
        assert (
            proc.stderr == f"error: {path}:2: unknown winner 'draw'; expected one of model_a, model_b, tie, "
            "tie (bothbad) (fix the label; prefkit never guesses)" + hint + "\n"
        )
    assert not (tmp_path / "o.jsonl").exists()


def test_lenient_reading_collects_skipped_rows(tmp_path: Path) -> None:
    path = _write(tmp_path, "w.csv", (ARENA_HEAD + "x,y,model_a\nx,y,draw\nx,x,tie\ny,x,model_b\n").encode())
    ds = io.read(path, strict=False)
    assert len(ds.pairwise) == 2
    assert [ln for ln, _ in ds.meta["skipped"]] == [3, 4]
    assert "unknown winner" in ds.meta["skipped"][0][1]


def test_parquet_errors_give_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "b.parquet"
    pq.write_table(
        pa.table(
            {"model_a": ["x", "y", "z"], "model_b": ["y", "z", "x"], "winner": ["model_a", "tie", "bothbad"]}
        ),
        path,
    )
    with pytest.raises(InputError, match=r"b\.parquet:3: unknown winner 'bothbad'"):
        io.read(path)
    ds = io.read(path, strict=False)
    assert len(ds.pairwise) == 2 and ds.meta["skipped"][0][0] == 3
    pq.write_table(pa.table({"model_a": ["x", "y"], "model_b": ["y", "y"], "winner": ["tie", "tie"]}), path)
    with pytest.raises(InputError, match=r"b\.parquet:2: item 'y' is compared with itself"):
        io.read(path)
    pq.write_table(
        pa.table(
            {"model_a": ["x", "y"], "model_b": ["y", "z"], "winner": ["tie", "tie"], "battle_id": ["k", "k"]}
        ),
        path,
    )
    with pytest.raises(InputError, match=r"b\.parquet:2: judgment id 'k' appears twice"):
        io.read(path)


def test_explicit_format_override(tmp_path: Path) -> None:
    path = _write(tmp_path, "x.csv", b"left,right,winner,model_a,model_b\nx,y,left,p,q\n")
    assert io.read(path, "crowd").meta["format"] == "crowd"
    with pytest.raises(FormatError, match="missing column"):
        io.read(path, "trl")
    from prefkit.errors import ValidationError

    with pytest.raises(ValidationError, match="unknown format 'xml'"):
        io.read(path, "xml")


def test_hh_rlhf_differing_prefixes_are_skipped_and_listed(tmp_path: Path) -> None:
    path = tmp_path / "hh.jsonl"
    path.write_bytes(
        b'{"chosen": "\\n\\nHuman: hi\\n\\nAssistant: yes", "rejected": "\\n\\nHuman: hi\\n\\nAssistant: no"}\n'
        b'{"chosen": "\\n\\nHuman: a\\n\\nAssistant: yes", "rejected": "\\n\\nHuman: b\\n\\nAssistant: no"}\n'
    )
    ds = io.read(path)  # strict: still not an error, the row is reported instead of guessed
    assert len(ds.pairwise) == 1
    assert [ln for ln, _ in ds.meta["skipped"]] == [2]
    assert "differ before their last Assistant turn" in ds.meta["skipped"][0][1]
    res = subprocess.run(
        [str(Path(sys.executable).with_name("prefkit")), "info", str(path)], capture_output=True, text=True
    )
    assert res.returncode == 0
    assert "skipped 1" in res.stderr and f"{path}:2:" in res.stderr
    only_bad = tmp_path / "hh_bad.jsonl"
    only_bad.write_text(path.read_text().splitlines()[1] + "\n")
    with pytest.raises(InputError, match="every row was bad"):
        io.read(only_bad)
