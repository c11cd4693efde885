"""``prefkit reward eval --by``: per-slice accuracy and calibration and the worst slice, against a planted
disagreement between annotator groups."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from .conftest import run

ENC = ["--encoder", "hashing"]


def _file(path: Path, seed: int = 0) -> None:
    """Group north always prefers the 'good' answer; group south flips a fair coin (no signal)."""
    rng = np.random.default_rng(seed)
    recs: list[dict] = [
        {"type": "annotator", "id": "n1", "groups": {"region": "north", "age": "young"}},
        {"type": "annotator", "id": "s1", "groups": {"region": "south", "age": "young"}},
    ]
    for i in range(400):
        good, bad = f"good{seed}_{i}", f"bad{seed}_{i}"
        recs.append({"type": "item", "id": good, "text": f"a clear helpful answer number {i}"})
        recs.append({"type": "item", "id": bad, "text": f"a rude useless reply number {i}"})
        ann = "n1" if i % 2 == 0 else "s1"
        flip = ann == "s1" and rng.random() < 0.5
        recs.append(
            {
                "type": "pairwise",
                "a": good,
                "b": bad,
                "outcome": "b" if flip else "a",
                "annotator": ann,
                "criterion": "helpful" if i % 4 < 2 else "harmless",
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")


@pytest.fixture
def model(tmp_path, capsys, cache):
    pytest.importorskip("torch")
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    _file(train, 0)
    _file(test, 1)
    code, _, err = run(["reward", "train", str(train), "--out", str(tmp_path / "rm"), *ENC, *cache], capsys)
    assert code == 0, err
    return tmp_path / "rm", test


def test_eval_by_group_finds_the_worst_group(model, capsys, cache) -> None:
    rm, test = model
    code, out, err = run(
        ["reward", "eval", str(rm), str(test), "--by", "group:region", "--format", "json", *cache], capsys
    )
    assert code == 0, err
    sl = json.loads(out)["slices"]
    acc = {s["name"]: s["accuracy"] for s in sl["slices"]}
    assert acc["north"] > 0.95 and 0.35 < acc["south"] < 0.65  # planted: all right vs a coin
    assert sl["worst"]["name"] == "south"
    code, out, err = run(["reward", "eval", str(rm), str(test), "--by", "group", *cache], capsys)
    assert code == 0 and "age=young,region=south" in out and "worst group" in out


def test_eval_by_criterion(model, capsys, cache) -> None:
    rm, test = model
    code, out, err = run(
        ["reward", "eval", str(rm), str(test), "--by", "criterion", "--format", "json", *cache], capsys
    )
    assert code == 0, err
    assert {s["name"] for s in json.loads(out)["slices"]["slices"]} == {"helpful", "harmless"}


@pytest.mark.parametrize(
    ("by", "msg"),
    [
        ("group:planet", "known: age, region"),
        ("colour", "--by must be one of"),
        ("annotator:x", "--by must be"),
    ],
)
def test_eval_by_bad_names(model, capsys, cache, by, msg) -> None:
    rm, test = model
    code, _, err = run(["reward", "eval", str(rm), str(test), "--by", by, *cache], capsys)
    assert code == 2 and msg in err


def _strength_file(path: Path) -> None:
    recs: list[dict] = []
    for i in range(200):
        s = 1 + i % 3  # strength 3: 'excellent' vs 'awful'; strength 1: 'fine' vs 'meh'
        words = {1: ("fine", "meh"), 2: ("good", "poor"), 3: ("excellent", "awful")}[s]
        recs.append({"type": "item", "id": f"c{i}", "text": f"{words[0]} answer {i}"})
        recs.append({"type": "item", "id": f"r{i}", "text": f"{words[1]} answer {i}"})
        recs.append({"type": "pairwise", "a": f"c{i}", "b": f"r{i}", "outcome": "a", "strength": s})
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")


def test_margin_by_strength_from_the_cli(tmp_path, capsys, cache) -> None:
    pytest.importorskip("torch")
    f = tmp_path / "s.jsonl"
    _strength_file(f)
    gaps = {}
    for flag in ([], ["--margin-by-strength"]):
        out = tmp_path / f"rm{len(flag)}"
        code, _, err = run(
            ["reward", "train", str(f), "--out", str(out), "--l2", "1e-4", *flag, *ENC, *cache], capsys
        )
        assert code == 0, err
        cfg = json.loads((out / "config.json").read_text())
        assert cfg["params"]["strength_margin"] is bool(flag)
        code, sc, err = run(["reward", "score", str(out), str(f), *cache], capsys)
        rows = [json.loads(x) for x in sc.splitlines()]
        m = np.array([r["reward_chosen"] - r["reward_rejected"] for r in rows])
        gaps[bool(flag)] = m[2::3].mean() / m[0::3].mean()  # strength-3 margin over strength-1 margin
    assert gaps[True] > gaps[False]  # the margin grows with the stated strength
    code, _, err = run(
        [
            "reward",
            "train",
            str(f),
            "--out",
            str(tmp_path / "x"),
            "--head",
            "pl",
            "--margin-by-strength",
            *ENC,
            *cache,
        ],
        capsys,
    )
    assert code == 2 and "--margin-by-strength applies to the bt and mlp heads" in err


def _two_camps(path: Path, annotators: dict[str, bool], n_each: int, seed: int) -> None:
    """Annotators in camp True prefer the 'good' answer, camp False the 'bad' one (planted membership)."""
    recs: list[dict] = []
    for a, likes_good in annotators.items():
        for i in range(n_each):
            g, b = f"g{seed}{a}{i}", f"b{seed}{a}{i}"
            recs.append({"type": "item", "id": g, "text": f"a clear helpful answer {a} {i}"})
            recs.append({"type": "item", "id": b, "text": f"a rude useless reply {a} {i}"})
            recs.append(
                {"type": "pairwise", "a": g, "b": b, "outcome": "a" if likes_good else "b", "annotator": a}
            )
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")


@pytest.mark.parametrize("head", ["pal", "maxmin"])
def test_place_new_annotators_from_a_few_pairs(tmp_path, capsys, cache, head) -> None:
    pytest.importorskip("torch")
    train, new = tmp_path / "train.jsonl", tmp_path / "new.jsonl"
    camps = {f"u{k}": k % 3 != 0 for k in range(9)}
    _two_camps(train, camps, 30, 0)
    _two_camps(new, {"fresh_good": True, "fresh_bad": False}, 5, 1)
    rm = tmp_path / "rm"
    # MaxMin's hard EM (random starts) recovers the planted camps with --seed 1 but not with --seed 0 on this
    # file: a known weakness of its initialisation; placement is what this test checks
    seed = ["--seed", "1"]
    code, _, err = run(
        ["reward", "train", str(train), "--head", head, "--out", str(rm), *seed, *ENC, *cache], capsys
    )
    assert code == 0, err
    code, out, err = run(
        ["reward", "place", str(rm), str(new), "--out", str(tmp_path / "rm2"), "--format", "json", *cache],
        capsys,
    )
    assert code == 0, err
    placed = {p["annotator"]: p for p in json.loads(out)["placed"]}
    assert set(placed) == {"fresh_good", "fresh_bad"} and placed["fresh_good"]["n_pairs"] == 5
    from prefkit.reward.persist import load_model

    h = load_model(tmp_path / "rm2").head
    names = h.annotator_names_
    if head == "maxmin":
        group = dict(zip(names, h.assignment_.tolist(), strict=True))
        assert group["fresh_good"] == group["u1"] and group["fresh_bad"] == group["u0"] != group["u1"]
    else:
        w = dict(zip(names, h.annotator_weights_, strict=True))
        assert np.argmax(w["fresh_good"]) == np.argmax(w["u1"]) and np.argmax(w["fresh_bad"]) == np.argmax(
            w["u0"]
        )
    # the placed model scores the new annotators' own verdicts right
    code, out, err = run(
        ["reward", "eval", str(tmp_path / "rm2"), str(new), "--format", "json", *cache], capsys
    )
    assert code == 0 and json.loads(out)["accuracy"] > 0.9
    # bad inputs: known annotators again, a head without annotators
    code, _, err = run(
        ["reward", "place", str(rm), str(train), "--out", str(tmp_path / "rm3"), *cache], capsys
    )
    assert code == 2 and "already in the model: u0" in err
    code, _, err = run(["reward", "train", str(train), "--out", str(tmp_path / "bt"), *ENC, *cache], capsys)
    code, _, err = run(
        ["reward", "place", str(tmp_path / "bt"), str(new), "--out", str(tmp_path / "x"), *cache], capsys
    )
    assert code == 2 and "needs a pal or maxmin model" in err
