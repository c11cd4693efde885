"""`prefkit reward ...` end to end on small synthetic TRL files (hashing encoder: no model to load)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from .conftest import run  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "prefkit" / "examples" / "reward-pairs.jsonl"


def test_train_eval_cv_score_on_the_example(tmp_path, capsys, cache) -> None:
    enc = ["--encoder", "hashing"]
    code, out, err = run(
        [
            "reward",
            "train",
            str(EXAMPLE),
            "--head",
            "bt",
            "--out",
            str(tmp_path / "rm"),
            "--format",
            "json",
            *enc,
            *cache,
        ],
        capsys,
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["n"] == 400 and res["embedded_texts"] > 0 and res["train_accuracy"] > 0.85
    # second run on the same file: everything comes from the cache
    code, out, err = run(
        ["reward", "train", str(EXAMPLE), "--out", str(tmp_path / "rm2"), "--format", "json", *enc, *cache],
        capsys,
    )
    assert code == 0 and json.loads(out)["embedded_texts"] == 0

    code, out, err = run(
        [
            "reward",
            "eval",
            str(tmp_path / "rm"),
            str(EXAMPLE),
            "--format",
            "json",
            "--reliability",
            str(tmp_path / "rel.png"),
            *cache,
        ],
        capsys,
    )
    assert code == 0, err
    ev = json.loads(out)
    assert {"accuracy", "n", "nll", "ece"} <= ev.keys() and ev["n"] == 400 and ev["accuracy"] > 0.85
    assert (tmp_path / "rel.png").read_bytes()[:4] == b"\x89PNG"

    code, out, err = run(
        ["reward", "cv", str(EXAMPLE), "--head", "bt", "--folds", "3", "--format", "json", *enc, *cache],
        capsys,
    )
    assert code == 0, err
    cv = json.loads(out)
    assert len(cv["folds"]) == 3 and cv["accuracy"] == pytest.approx(
        np.mean([f["accuracy"] for f in cv["folds"]])
    )
    assert cv["accuracy"] > 0.8

    code, out, err = run(
        ["reward", "score", str(tmp_path / "rm"), str(EXAMPLE), "--out", str(tmp_path / "s.jsonl"), *cache],
        capsys,
    )
    assert code == 0, err
    rows = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    src = [json.loads(x) for x in EXAMPLE.read_text().splitlines()]
    assert len(rows) == 400 and rows[0]["chosen"] == src[0]["chosen"]
    acc = np.mean([r["reward_chosen"] > r["reward_rejected"] for r in rows])
    assert acc == pytest.approx(ev["accuracy"])
    assert all(0 < r["p_chosen"] < 1 for r in rows)


def test_armo_scores_expose_attribute_weights(tmp_path, capsys, cache) -> None:
    code, _, err = run(
        [
            "reward",
            "train",
            str(EXAMPLE),
            "--head",
            "armo",
            "--components",
            "3",
            "--out",
            str(tmp_path / "rm"),
            "--encoder",
            "hashing:64",
            *cache,
        ],
        capsys,
    )
    assert code == 0, err
    code, out, err = run(["reward", "score", str(tmp_path / "rm"), str(EXAMPLE), *cache], capsys)
    assert code == 0, err
    row = json.loads(out.splitlines()[0])
    assert len(row["attribute_weights"]) == 3 and sum(row["attribute_weights"].values()) == pytest.approx(1.0)


def test_export_trl_with_margins(tmp_path, capsys) -> None:
    src = tmp_path / "pairs.jsonl"
    recs = [
        {"type": "context", "id": "q", "text": "Which is better?"},
        {"type": "item", "id": "x", "text": "answer x"},
        {"type": "item", "id": "y", "text": "answer y"},
        {"type": "pairwise", "a": "x", "b": "y", "outcome": "b", "strength": -2, "context": "q"},
        {"type": "pairwise", "a": "x", "b": "y", "outcome": "a", "context": "q"},
        {"type": "pairwise", "a": "x", "b": "y", "outcome": "tie", "context": "q"},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    code, _, err = run(["reward", "export-trl", str(src), str(tmp_path / "trl.jsonl")], capsys)
    assert code == 0, err
    rows = [json.loads(x) for x in (tmp_path / "trl.jsonl").read_text().splitlines()]
    assert rows == [
        {"prompt": "Which is better?", "chosen": "answer y", "rejected": "answer x", "margin": 2.0},
        {"prompt": "Which is better?", "chosen": "answer x", "rejected": "answer y", "margin": 0.0},
    ]
    assert "1 ties left out" in err


def _write(tmp_path: Path, lines: list[str]) -> str:
    p = tmp_path / "bad.jsonl"
    p.write_text("".join(x + "\n" for x in lines))
    return str(p)


@pytest.mark.parametrize(
    "lines,message",
    [
        ([], ""),
        (['{"prompt": "q", "chosen": "same", "rejected": "same"}'], "identical"),
        (['{"prompt": "q", "chosen": "only chosen"}'], "rejected"),
        (
            [
                '{"type": "item", "id": "x", "text": "t1"}',
                '{"type": "item", "id": "y", "text": "t2"}',
                '{"type": "pairwise", "a": "x", "b": "y", "outcome": "a", "strength": 5}',
            ],
            "strength",
        ),
        (
            [
                '{"type": "item", "id": "x", "text": "t1"}',
                '{"type": "item", "id": "y", "text": "t2"}',
                '{"type": "pairwise", "a": "x", "b": "y", "outcome": "a", "strength": -2}',
            ],
            "contradicts the outcome",
        ),
        (['{"model_a": "m1", "model_b": "m2", "winner": "model_a"}'], "no text"),
    ],
    ids=["empty", "chosen==rejected", "missing-field", "strength-range", "strength-sign", "no-texts"],
)
def test_bad_inputs_give_clear_errors(tmp_path, capsys, cache, lines, message) -> None:
    path = _write(tmp_path, lines)
    code, out, err = run(
        ["reward", "train", path, "--out", str(tmp_path / "rm"), "--encoder", "hashing", *cache], capsys
    )
    assert code == 2
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "rm").exists()


def test_unknown_head_and_pluralistic_without_annotators(tmp_path, capsys, cache) -> None:
    code, _, err = run(
        ["reward", "train", str(EXAMPLE), "--head", "svm", "--out", str(tmp_path / "rm")], capsys
    )
    assert code == 2 and "unknown head 'svm'" in err and "bt, mlp" in err
    code, _, err = run(
        ["reward", "cv", str(EXAMPLE), "--head", "pal", "--encoder", "hashing", *cache], capsys
    )
    assert code == 2 and "annotator" in err
    code, _, err = run(["reward", "eval", str(tmp_path / "nothing"), str(EXAMPLE)], capsys)
    assert code == 2 and "not a prefkit reward model directory" in err
