"""The one route from a file to a head: what it trains on, temperatures that hit a bound, and a training set
that implies no pair (hashing encoder: no model to load)."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit

from prefkit.reward.calibration import calibrate_temperature, fit_temperature

from .conftest import run

ENC = ["--encoder", "hashing"]


# -- calibration: an interior minimum is an estimate, a bound is not ----------------------------------------


def test_temperature_at_a_bound_is_not_an_estimate() -> None:
    rng = np.random.default_rng(0)
    # margins drawn so that sigmoid(m / 2) is the true probability: an interior minimum near T = 2
    m = rng.normal(0, 4, 20_000)
    m = np.where(rng.random(len(m)) < expit(np.abs(m) / 2.0), np.abs(m), -np.abs(m))
    fit = calibrate_temperature(m)
    assert fit.status == "fitted" and fit.estimate == pytest.approx(2.0, rel=0.08)
    # every pair right: the NLL falls as T -> 0 (closed form log(1 + exp(-m / T)) is decreasing in 1 / T)
    low = calibrate_temperature(np.abs(m) + 0.1)
    assert (low.status, low.bound, low.estimate, low.value) == ("at_bound", "lower", None, 1e-2)
    # no signal (margins and their negations equally often): NLL -> log 2 as T -> infinity
    high = calibrate_temperature(np.r_[m, -m])
    assert (high.status, high.bound, high.estimate) == ("at_bound", "upper", None)
    assert fit_temperature(np.r_[m, -m]) > 99  # what used to be reported as an estimate
    assert "no calibrated signal" in high.note and high.to_dict()["temperature"] is None
    none = calibrate_temperature(np.zeros(0))
    assert none.status == "not_fitted" and none.value == 1.0


def _write(path: Path, recs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return path


def test_train_reports_a_bound_temperature_as_such(tmp_path, capsys, cache) -> None:
    pytest.importorskip("torch")
    # separable: every chosen answer says "good", every rejected one "bad"; held-out pairs are all ranked right
    recs = [{"chosen": f"good answer number {i}", "rejected": f"bad answer number {i}"} for i in range(300)]
    path = _write(tmp_path / "sep.jsonl", recs)
    code, out, err = run(
        ["reward", "train", str(path), "--out", str(tmp_path / "rm"), "--format", "json", *ENC, *cache],
        capsys,
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["train_accuracy"] == 1.0
    assert res["temperature"] is None and res["temperature_status"] == "at_bound"
    assert "lower bound" in res["temperature_note"]
    config = json.loads((tmp_path / "rm" / "config.json").read_text())
    assert config["meta"]["temperature_status"] == "at_bound"
    code, out, err = run(
        ["reward", "eval", str(tmp_path / "rm"), str(path), "--format", "json", *cache], capsys
    )
    ev = json.loads(out)
    assert code == 0 and ev["temperature"] is None and ev["temperature_status"] == "at_bound"
    code, out, err = run(
        ["reward", "cv", str(path), "--folds", "3", "--format", "json", *ENC, *cache], capsys
    )
    folds = json.loads(out)["folds"]
    assert (
        code == 0 and [(f["temperature"], f["temperature_status"]) for f in folds] == [(None, "at_bound")] * 3
    )
    code, out, err = run(["reward", "train", str(path), "--out", str(tmp_path / "rm2"), *ENC, *cache], capsys)
    assert code == 0 and "temperature: none (at the lower bound" in " ".join(out.split())


def test_ratings_that_imply_no_pair_report_no_train_accuracy(tmp_path, capsys, cache) -> None:
    pytest.importorskip("sklearn")
    # one rated response per prompt: a regression head trains, but no pair can be scored
    recs: list[dict] = []
    for q in range(8):
        recs += [
            {"type": "context", "id": f"q{q}", "text": f"question {q}"},
            {"type": "item", "id": f"r{q}", "text": f"tok{q} tok{q + 1}"},
            {"type": "rating", "item": f"r{q}", "score": 1 + q % 7, "scale": [1, 7], "context": f"q{q}"},
        ]
    path = _write(tmp_path / "single.jsonl", recs)
    code, out, err = run(
        [
            "reward",
            "train",
            str(path),
            "--head",
            "regression",
            "--out",
            str(tmp_path / "rm"),
            "--format",
            "json",
        ]
        + ENC
        + cache,
        capsys,
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["n"] == 0 and res["train_accuracy"] is None
    assert res["temperature"] is None and res["temperature_status"] == "not_fitted"
    code, out, err = run(
        ["reward", "train", str(path), "--head", "regression", "--out", str(tmp_path / "rm2")] + ENC + cache,
        capsys,
    )
    assert code == 0 and "train accuracy not measured (the data imply no decisive pair)" in " ".join(
        out.split()
    )
    assert "nan" not in out


def test_pair_heads_train_on_the_files_pairs_and_the_implied_ones(tmp_path, capsys, cache) -> None:
    """One route for every shape: a bt head on pairs + rankings + ratings counts each implied decisive pair
    (counted here by hand from the records)."""
    pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    recs: list[dict] = []
    n_pairs = n_ties = 0
    implied = 0
    for q in range(30):
        ids = [f"q{q}r{k}" for k in range(4)]
        recs.append({"type": "context", "id": f"q{q}", "text": f"prompt {q}"})
        recs += [
            {"type": "item", "id": i, "text": f"w{rng.integers(50)} w{rng.integers(50)} {i}"} for i in ids
        ]
        outcome = ["a", "b", "tie"][q % 3]
        recs.append({"type": "pairwise", "a": ids[0], "b": ids[1], "outcome": outcome, "context": f"q{q}"})
        n_pairs += outcome != "tie"
        n_ties += outcome == "tie"
        recs.append({"type": "ranking", "ranking": [ids[2], [ids[3], ids[0]]], "context": f"q{q}"})
        implied += sum(1 for x, y in combinations([0, 1, 1], 2) if x != y)  # the tied pair is not decisive
        n_ties += 1
        scores = {ids[1]: 3, ids[2]: 5, ids[3]: 5}
        for item, score in scores.items():
            recs.append({"type": "rating", "item": item, "score": score, "scale": [1, 7], "context": f"q{q}"})
        implied += sum(1 for x, y in combinations(scores.values(), 2) if x != y)
        n_ties += sum(1 for x, y in combinations(scores.values(), 2) if x == y)
    path = _write(tmp_path / "all.jsonl", recs)
    code, out, err = run(
        ["reward", "train", str(path), "--out", str(tmp_path / "rm"), "--format", "json", *ENC, *cache],
        capsys,
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["trained_on"] == "pairs" and res["n"] + res["identical_left_out"] == n_pairs + implied
    assert res["ties_left_out"] == n_ties
    assert res["implied_pairs"] == {"rankings": 30 * 3, "ratings": 30 * 3}
