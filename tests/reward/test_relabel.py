"""AlignDiff relabelling: per-criterion strengths learnt from comparisons of two criteria with opposite
orders, written as ratings; checked against the planted order of every response."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from prefkit.data.io import read

from .conftest import run

ENC = ["--encoder", "hashing"]


def _items(seed: int, n: int = 40) -> dict[str, int]:
    """Item id -> planted level 0..4: the number of 'detail' words (helpful rises with it, concise falls)."""
    rng = np.random.default_rng(seed)
    return {f"r{seed}_{i}": int(rng.integers(0, 5)) for i in range(n)}


def _text(level: int, i: int) -> str:
    return " ".join(["answer", f"id{i}"] + ["detail"] * level + ["example"] * level)


def _file(path: Path, seed: int, with_pairs: bool = True) -> dict[str, int]:
    items = _items(seed)
    names = list(items)
    recs: list[dict] = [
        {"type": "item", "id": k, "text": _text(v, i)} for i, (k, v) in enumerate(items.items())
    ]
    rng = np.random.default_rng(seed + 100)
    for _ in range(600 if with_pairs else 0):
        a, b = rng.choice(names, 2, replace=False)
        if items[a] == items[b]:
            continue
        for crit, sign in (("helpful", 1), ("concise", -1)):
            a_wins = (items[a] - items[b]) * sign > 0
            recs.append(
                {"type": "pairwise", "a": a, "b": b, "outcome": "a" if a_wins else "b", "criterion": crit}
            )
    if not with_pairs:  # responses to relabel: one rating each, so they are in the file
        recs += [{"type": "rating", "item": k, "score": 1, "scale": [0, 1]} for k in names]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return items


def test_relabel_recovers_both_opposite_orders(tmp_path, capsys, cache) -> None:
    pytest.importorskip("torch")
    src, tgt, out = tmp_path / "src.jsonl", tmp_path / "tgt.jsonl", tmp_path / "out.jsonl"
    _file(src, 0)
    truth = _file(tgt, 1, with_pairs=False)
    code, o, err = run(
        [
            "reward",
            "relabel",
            str(src),
            "--on",
            str(tgt),
            "--out",
            str(out),
            "--format",
            "json",
            *ENC,
            *cache,
        ],
        capsys,
    )
    assert code == 0, err
    assert set(json.loads(o)["criteria"]) == {"helpful", "concise"}
    ds = read(out)
    rt = ds.ratings
    for crit, sign in (("helpful", 1), ("concise", -1)):
        m = rt.attribute == ds.attributes.names.index(crit)
        strength = rt.score[m]
        level = [truth[ds.items.name(int(i))] for i in rt.item[m]]
        assert strength.min() >= 0 and strength.max() <= 1
        assert sign * spearmanr(strength, level).statistic > 0.8


def test_relabel_bad_input(tmp_path, capsys, cache) -> None:
    f = tmp_path / "ties.jsonl"
    f.write_text(
        json.dumps({"type": "item", "id": "x", "text": "a"})
        + "\n"
        + json.dumps({"type": "item", "id": "y", "text": "b"})
        + "\n"
        + json.dumps({"type": "pairwise", "a": "x", "b": "y", "outcome": "tie"})
        + "\n",
        encoding="utf-8",
    )
    code, _, err = run(
        ["reward", "relabel", str(f), "--out", str(tmp_path / "o.jsonl"), *ENC, *cache], capsys
    )
    assert code == 2 and "ties" in err
    code, _, err = run(
        [
            "reward",
            "relabel",
            str(f),
            "--on",
            str(tmp_path / "missing.jsonl"),
            "--out",
            str(tmp_path / "o.jsonl"),
            *ENC,
            *cache,
        ],
        capsys,
    )
    assert code == 2 and "missing.jsonl" in err
