"""Conditioned reward heads (Janus system messages, annotator attributes) and ``--by condition``, against
planted preferences that flip with the condition: one unconditioned head cannot beat a coin on them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prefkit.reward.conditioned import ConditionedHead, attribute_matrix, attribute_vocab
from prefkit.reward.pairs import PairFeatures

from .conftest import run

ENC = ["--encoder", "hashing"]
SYSTEMS = ("Answer as briefly as you can.", "Explain in rich detail with examples.")


def _pair(i: int, seed: int) -> tuple[str, str]:
    return f"short reply {seed} {i}", f"a long detailed explanation with many examples and steps {seed} {i}"


def _trl(path: Path, seed: int, *, drop_system_at: int | None = None, n: int = 200) -> None:
    """Under SYSTEMS[0] the short reply wins, under SYSTEMS[1] the long one (the same prompts)."""
    rows = []
    for i in range(n):
        short, long_ = _pair(i, seed)
        k = i % 2
        row = {
            "system": SYSTEMS[k],
            "prompt": f"question {seed} {i // 2}",
            "chosen": (short, long_)[k],
            "rejected": (long_, short)[k],
        }
        if i == drop_system_at:
            del row["system"]
        rows.append(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_conditioned_head_recovers_opposite_preferences() -> None:
    rng = np.random.default_rng(0)
    n, d = 800, 6
    w = rng.standard_normal(d) * 3
    xc, xr = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    cond = np.eye(2)[rng.integers(0, 2, n)]
    sign = np.where(
        cond[:, 0] == 1, 1.0, -1.0
    )  # the planted reward is w.x under one condition, -w.x under the other
    flip = ((xc - xr) @ w) * sign < 0
    xc, xr = np.where(flip[:, None], xr, xc), np.where(flip[:, None], xc, xr)
    tr, te = (
        PairFeatures(xc[:600], xr[:600], cond=cond[:600]),
        PairFeatures(xc[600:], xr[600:], cond=cond[600:]),
    )
    acc = float((ConditionedHead(rank=2).fit(tr).margins(te) > 0).mean())
    assert acc > 0.95
    from prefkit.reward.bt import BradleyTerryHead

    assert float((BradleyTerryHead().fit(tr).margins(te) > 0).mean()) < 0.65  # one reward cannot follow both


def test_attribute_matrix_one_hot() -> None:
    groups = {"a": {"age": "young"}, "b": {"age": "old", "region": "n"}}
    vocab = attribute_vocab(groups)
    assert vocab == ["age=old", "age=young", "region=n"]
    m = attribute_matrix(np.array([0, 1, -1]), ["a", "b"], groups, vocab)
    assert m.tolist() == [[0, 1, 0], [1, 0, 1], [0, 0, 0]]


def test_janus_system_messages_from_the_cli(tmp_path, capsys, cache) -> None:
    pytest.importorskip("torch")
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    _trl(train, 0)
    _trl(test, 1)
    accs = {}
    for head in ("conditioned", "bt"):
        rm = tmp_path / head
        code, _, err = run(
            ["reward", "train", str(train), "--head", head, "--out", str(rm), *ENC, *cache], capsys
        )
        assert code == 0, err
        code, out, err = run(
            ["reward", "eval", str(rm), str(test), "--by", "condition", "--format", "json", *cache], capsys
        )
        assert code == 0, err
        sl = json.loads(out)["slices"]
        assert {s["name"] for s in sl["slices"]} == set(SYSTEMS)
        accs[head] = sl["worst"]["accuracy"]
    assert accs["conditioned"] > 0.9 and accs["bt"] < 0.6
    scored = tmp_path / "scored.jsonl"
    code, out, err = run(
        ["reward", "score", str(tmp_path / "conditioned"), str(test), "--out", str(scored)], capsys
    )
    assert code == 0, err
    assert len(scored.read_text(encoding="utf-8").splitlines()) == 200


def test_system_field_on_some_rows_only_names_the_row(tmp_path, capsys, cache) -> None:
    bad = tmp_path / "bad.jsonl"
    _trl(bad, 0, drop_system_at=3, n=10)
    code, _, err = run(
        ["reward", "train", str(bad), "--head", "conditioned", "--out", str(tmp_path / "m"), *ENC, *cache],
        capsys,
    )
    assert code == 2 and ":4" in err and "system" in err


def test_native_condition_on_some_contexts_only(tmp_path, capsys, cache) -> None:
    recs = [
        {"type": "context", "id": "q1", "text": "hi", "condition": "be brief"},
        {"type": "context", "id": "q2", "text": "hello"},
        {"type": "item", "id": "x", "text": "yes"},
        {"type": "item", "id": "y", "text": "no thanks"},
        {"type": "pairwise", "a": "x", "b": "y", "outcome": "a", "context": "q1"},
        {"type": "pairwise", "a": "x", "b": "y", "outcome": "b", "context": "q2"},
    ]
    f = tmp_path / "c.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    code, _, err = run(["reward", "train", str(f), "--out", str(tmp_path / "m"), *ENC, *cache], capsys)
    assert code == 2 and ":6" in err and "no condition" in err


def test_by_condition_without_conditions(tmp_path, capsys, cache) -> None:
    pytest.importorskip("torch")
    f = tmp_path / "plain.jsonl"
    f.write_text(
        "".join(
            json.dumps({"prompt": f"q{i}", "chosen": f"good answer {i}", "rejected": f"bad {i}"}) + "\n"
            for i in range(40)
        ),
        encoding="utf-8",
    )
    code, _, err = run(["reward", "train", str(f), "--out", str(tmp_path / "m"), *ENC, *cache], capsys)
    assert code == 0, err
    code, _, err = run(["reward", "eval", str(tmp_path / "m"), str(f), "--by", "condition", *cache], capsys)
    assert code == 2 and "gives no conditions" in err
    code, _, err = run(
        ["reward", "train", str(f), "--head", "conditioned", "--out", str(tmp_path / "c"), *ENC, *cache],
        capsys,
    )
    assert code == 2 and "no condition" in err


def _camps(path: Path, seed: int, annotators: dict[str, str]) -> None:
    """Young annotators prefer the casual answer, old ones the formal one."""
    recs: list[dict] = [{"type": "annotator", "id": a, "groups": {"age": g}} for a, g in annotators.items()]
    names = list(annotators)
    for i in range(300):
        casual, formal = f"c{seed}_{i}", f"f{seed}_{i}"
        recs.append({"type": "item", "id": casual, "text": f"yo dude sure thing lol {i}"})
        recs.append({"type": "item", "id": formal, "text": f"Certainly, I would be glad to assist you {i}"})
        ann = names[i % len(names)]
        young = annotators[ann] == "young"
        recs.append(
            {"type": "pairwise", "a": casual, "b": formal, "outcome": "a" if young else "b", "annotator": ann}
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")


def test_attributes_head_scores_new_annotators_by_their_attributes(tmp_path, capsys, cache) -> None:
    pytest.importorskip("torch")
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    _camps(train, 0, {"y1": "young", "y2": "young", "o1": "old"})
    _camps(test, 1, {"new_y": "young", "new_o": "old"})  # annotators the model never saw
    rm = tmp_path / "rm"
    code, _, err = run(
        ["reward", "train", str(train), "--head", "attributes", "--out", str(rm), *ENC, *cache], capsys
    )
    assert code == 0, err
    code, out, err = run(
        ["reward", "eval", str(rm), str(test), "--by", "group:age", "--format", "json", *cache], capsys
    )
    assert code == 0, err
    sl = json.loads(out)["slices"]
    assert sl["worst"]["accuracy"] > 0.9
    code, _, err = run(["reward", "eval", str(rm), str(test), "--by", "group:planet", *cache], capsys)
    assert code == 2 and "known: age" in err


def test_attributes_head_without_attributes(tmp_path, capsys, cache) -> None:
    f = tmp_path / "plain.jsonl"
    f.write_text(json.dumps({"prompt": "q", "chosen": "good", "rejected": "bad"}) + "\n", encoding="utf-8")
    code, _, err = run(
        ["reward", "train", str(f), "--head", "attributes", "--out", str(tmp_path / "m"), *ENC, *cache],
        capsys,
    )
    assert code == 2 and "no annotator attributes" in err


def test_conditions_survive_a_round_trip(tmp_path) -> None:
    from prefkit.data.io import read, write

    f = tmp_path / "t.jsonl"
    _trl(f, 0, n=10)
    ds = read(f, "trl")
    assert sorted(set(ds.context_condition.values())) == sorted(SYSTEMS)
    for fmt, name in (("prefkit", "n.jsonl"), ("trl", "t2.jsonl")):
        write(ds, tmp_path / name, fmt)
        back = read(tmp_path / name, fmt)
        per_pair = [back.context_condition[back.contexts.name(int(c))] for c in back.pairwise.context]
        assert per_pair == [ds.context_condition[ds.contexts.name(int(c))] for c in ds.pairwise.context]
