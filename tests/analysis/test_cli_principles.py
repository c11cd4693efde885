"""``prefkit explain principles`` end to end: ICAI's synthetic orthogonal set, bad inputs, the local SmolLM2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prefkit.cli.main import main

ORTHO = "synthetic_data_orthogonal_adcbg.csv"
POOL = [
    "Select the response that is about a cat.",
    "Select the response that is about a dog.",
    "Select the response that recommends lemon ice cream.",
    "Select the response that recommends raspberry ice cream.",
]


def _few(tmp_path: Path, shared_data: Path, n: int) -> Path:
    """The first ``n`` pairs of ICAI's aligned set as a feedback CSV."""
    import csv
    import io

    lines = (shared_data / "icai" / "synthetic_data_aligned_vqvtb.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(lines)))[:n]
    few = tmp_path / "few.csv"
    with few.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["text_a", "text_b", "preferred_text"])
        w.writeheader()
        w.writerows({k: r[k] for k in ("text_a", "text_b", "preferred_text")} for r in rows)
    return few


def _run(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_principles_json_on_the_orthogonal_set(tmp_path: Path, capsys: Any, shared_data: Path) -> None:
    pool = tmp_path / "pool.txt"
    pool.write_text("# planted and opposite\n" + "\n".join(POOL) + "\n")
    out = tmp_path / "ap.json"
    argv = ["explain", "principles", str(shared_data / "icai" / ORTHO), "--pool", str(pool), "--encoder",
            "hashing:4096", "--format", "json", "--out", str(out), "-q"]  # fmt: skip
    code, stdout, err = _run(argv, capsys)
    assert code == 0, err
    doc = json.loads(stdout)
    texts = [p["text"] for p in doc["principles"]]
    assert set(doc["reconstruction"]) == {"accuracy", "lower", "upper", "n", "baseline"}
    assert doc["reconstruction"]["n"] == 9
    assert all(set(p) == {"text", "support", "accuracy"} for p in doc["principles"])
    # hashed words: "cat" and "lemon" are literal in the preferred responses, their opposites in the others
    assert "Select the response that is about a dog." not in texts
    assert "Select the response that recommends raspberry ice cream." not in texts
    ap = json.loads(out.read_text())
    assert ap["metadata"]["version"] == "2.0" and len(ap["comparisons"]) == 30
    # the same run again gives the same answer (seeded split and clustering)
    code, again, _ = _run(argv, capsys)
    assert code == 0 and json.loads(again) == doc


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--voter", "oracle"], "--voter must be judge, embedding or reward"),
        (["--voter", "judge"], "--voter judge and --propose need --model"),
        (["--voter", "reward"], "--voter reward needs --reward DIR"),
        (["--min-accuracy", "1.5"], "--min-accuracy must be in [0, 1]"),
        (["--model", "scripted", "--voter", "judge"], "not a chat model"),
    ],
)
def test_bad_options(extra: list[str], message: str, capsys: Any, shared_data: Path) -> None:
    code, _, err = _run(
        ["explain", "principles", str(shared_data / "icai" / ORTHO), "--encoder", "hashing", *extra], capsys
    )
    assert code == 2 and message in err and err.count("error:") == 1


def test_empty_pool_and_principles_that_never_apply(tmp_path: Path, capsys: Any, shared_data: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    f = str(shared_data / "icai" / ORTHO)
    code, _, err = _run(["explain", "principles", f, "--pool", str(empty)], capsys)
    assert code == 2 and "no principle in the pool" in err
    never = tmp_path / "never.txt"
    never.write_text("Select the response that mentions quaternions.\n")
    # the embedding voter has no notion of "never applies" (some response is always closest), so the
    # accuracy bar does the filtering here; ChatVoter's None votes are tested in test_principles.py
    argv = [
        "explain",
        "principles",
        f,
        "--pool",
        str(never),
        "--encoder",
        "hashing",
        "--min-accuracy",
        "0.95",
    ]
    code, _, err = _run(argv, capsys)
    assert code == 2 and "the constitution is empty" in err and "quaternions" in err


def test_pairs_without_texts(capsys: Any) -> None:
    battles = Path(__file__).resolve().parents[2] / "src" / "prefkit" / "examples" / "battles.jsonl"
    code, _, err = _run(["explain", "principles", str(battles), "--encoder", "hashing"], capsys)
    assert code == 2 and "carry no response texts" in err


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_principles_with_smollm2_as_the_voter(tmp_path: Path, capsys: Any, shared_data: Path) -> None:
    """Plumbing with the real local model: 4 pairs, one short vote call each (the 135M model is no judge)."""
    pytest.importorskip("xllamacpp")
    from prefkit.annotation.local import gguf_path

    try:
        gguf_path("smollm2")
    except Exception as exc:
        pytest.skip(str(exc))
    few = _few(tmp_path, shared_data, 4)
    pool = tmp_path / "pool.txt"
    pool.write_text(POOL[0] + "\n")
    argv = ["explain", "principles", str(few), "--voter", "judge", "--model", "local:smollm2", "--pool", str(pool),
            "--encoder", "hashing", "--min-relevance", "0", "--min-accuracy", "0", "--max-tokens", "12",
            "--test-fraction", "0.25", "--cache", str(tmp_path / "cache.sqlite"), "--format", "json", "-q"]  # fmt: skip
    code, stdout, err = _run(argv, capsys)
    assert code == 0, err
    doc = json.loads(stdout)
    assert doc["principles"][0]["text"] == POOL[0] and doc["reconstruction"]["n"] == 1
    # a re-run is answered from the reply cache, with the same result
    code, again, err = _run(argv, capsys)
    assert code == 0 and json.loads(again) == doc


def test_criteria_offline_and_bad_options(tmp_path: Path, capsys: Any, shared_data: Path) -> None:
    f = str(shared_data / "icai" / "synthetic_data_mixed_vqvtb_adcbg.csv")
    pool = tmp_path / "pool.txt"
    pool.write_text("\n".join(POOL) + "\n")
    argv = ["explain", "criteria", f, "--voter", "embedding", "--encoder", "hashing:4096", "--pool", str(pool),
            "--keep-accuracy", "0.6", "--format", "json"]  # fmt: skip
    code, stdout, err = _run(argv, capsys)
    assert code == 0, err
    doc = json.loads(stdout)
    assert doc["scorer"]["n_train"] == 30 and doc["scorer"]["n_test"] == 30
    weights = {c["text"]: c["weight"] for c in doc["criteria"]}
    assert weights[POOL[0]] > weights.get(POOL[1], 0.0)  # cats over dogs
    assert POOL[3] not in weights  # raspberry is never preferred
    assert len(doc["rounds"]) == 1  # no refining model: one round
    wrong = tmp_path / "wrong.txt"
    wrong.write_text(POOL[3] + "\n")  # raspberry: always the rejected one
    for extra, message in [
        (["--voter", "judge"], "--voter judge needs --model"),
        (["--voter", "embedding", "--train", "1"], "--train must be >= 2"),
        (["--voter", "embedding", "--keep-accuracy", "1.01"], "--keep-accuracy must be in [0, 1]"),
        (["--voter", "embedding", "--encoder", "hashing", "--pool", str(wrong)], "no criterion agrees"),
    ]:
        code, _, err = _run(["explain", "criteria", f, *extra], capsys)
        assert code == 2 and message in err and err.count("error:") == 1, (extra, err)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_criteria_with_smollm2(tmp_path: Path, capsys: Any, shared_data: Path) -> None:
    """Plumbing with the real local model: 4 training pairs, one criterion, two rounds (judge, refine, judge)."""
    pytest.importorskip("xllamacpp")
    from prefkit.annotation.local import gguf_path

    try:
        gguf_path("smollm2")
    except Exception as exc:
        pytest.skip(str(exc))
    few = _few(tmp_path, shared_data, 5)
    pool = tmp_path / "pool.txt"
    pool.write_text("Select the response that is correct.\n")
    argv = ["explain", "criteria", str(few), "--model", "local:smollm2", "--pool", str(pool), "--train", "4",
            "--rounds", "2", "--keep-accuracy", "0", "--min-coverage", "0", "--max-tokens", "12", "--cache", str(tmp_path / "c.sqlite"),
            "--format", "json", "-q"]  # fmt: skip
    code, stdout, err = _run(argv, capsys)
    assert code == 0, err
    doc = json.loads(stdout)
    assert doc["scorer"]["n_train"] == 4 and doc["scorer"]["n_test"] == 1
    code, again, _ = _run(argv, capsys)
    assert code == 0 and json.loads(again) == doc
