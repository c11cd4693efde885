"""Judge audits: planted biases of the scripted judge recovered with near-nominal interval coverage and few
false flags; intervals and kappa against scipy / scikit-learn; the real llmfao GPT-4 vs crowd audit checked
against counts made directly from the CSV files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from prefkit.analysis.judge_audit import (
    audit_judges,
    cohen_kappa,
    length_bias,
    position_bias,
    self_preference,
    swap_consistency,
    wilson,
)
from prefkit.annotation.scripted import ScriptedJudge
from prefkit.annotation.types import PairTask
from prefkit.data import io
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
from prefkit.errors import ValidationError

SEEDS = 300
N = 300


def _tasks(rng: np.random.Generator, n: int, items: list[str]) -> list[PairTask]:
    """Random pairs shown in random order; lengths differ by a factor >= 2, unrelated to quality."""
    out = []
    for _ in range(n):
        i, j = rng.choice(len(items), 2, replace=False)
        short, long_ = "x" * int(rng.integers(10, 50)), "x" * int(rng.integers(100, 400))
        first, second = (short, long_) if rng.random() < 0.5 else (long_, short)
        out.append(PairTask("q", first, second, items[i], items[j]))
    return out


def _run(judge: ScriptedJudge, tasks: list[PairTask]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    o = np.asarray([v.outcome for v in judge.judge_pairs(tasks)])
    return o, np.asarray([len(t.first) for t in tasks]), np.asarray([len(t.second) for t in tasks])


def test_wilson_and_kappa_match_scipy_and_sklearn() -> None:
    for k, n in ((0, 10), (3, 10), (57, 100), (100, 100)):
        ci = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, 500)
    y = np.where(rng.random(500) < 0.6, x, rng.integers(0, 3, 500))
    assert cohen_kappa(x, y)[1] == pytest.approx(cohen_kappa_score(x, y), abs=1e-12)


@pytest.mark.parametrize("position", [0.0, 0.2])
def test_position_bias_recovered_with_nominal_coverage(position: float) -> None:
    truth = position + (1 - position) / 2
    quality = {f"m{i}": q for i, q in enumerate(np.linspace(-1, 1, 8))}
    covered = flagged = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        judge = ScriptedJudge(quality, position=position, tie=0.1, rng=rng)
        o, _, _ = _run(judge, _tasks(rng, N, list(quality)))
        r = position_bias(o)
        covered += r.lower <= truth <= r.upper
        flagged += r.flagged
    assert 0.92 <= covered / SEEDS <= 0.98
    if position == 0.0:
        assert flagged / SEEDS <= 0.08  # false flags near alpha = 0.05
    else:
        assert flagged / SEEDS >= 0.95  # power against a 60% first-shown share at n = 300


def test_length_and_self_preference_recovered() -> None:
    items = [f"m{i}" for i in range(8)]
    cov_len = cov_self = false_len = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        tasks = _tasks(rng, N, items)
        o, la, lb = _run(ScriptedJudge(length=0.3, rng=rng), tasks)
        r = length_bias(o, la, lb, min_ratio=1.5)
        cov_len += r.lower <= 0.65 <= r.upper
        o0, _, _ = _run(ScriptedJudge(rng=rng), tasks)
        false_len += length_bias(o0, la, lb).flagged
        own = {"m0", "m1", "m2"}
        judge = ScriptedJudge(self_items=sorted(own), self_preference=0.3, rng=rng)
        os_, _, _ = _run(judge, tasks)
        oa = np.asarray([t.first_item in own for t in tasks])
        ob = np.asarray([t.second_item in own for t in tasks])
        s = self_preference(os_, oa, ob)
        cov_self += s.lower <= 0.65 <= s.upper
    assert 0.92 <= cov_len / SEEDS <= 0.98
    assert 0.92 <= cov_self / SEEDS <= 0.98
    assert false_len / SEEDS <= 0.08


def test_swap_consistency_counts_flips() -> None:
    o1 = np.array([OUTCOME_A, OUTCOME_A, OUTCOME_B, OUTCOME_TIE])
    o2 = np.array([OUTCOME_A, OUTCOME_B, OUTCOME_A, OUTCOME_TIE])
    s = swap_consistency(o1, o2)
    assert (s.consistency, s.flips, s.n) == (0.5, 2, 4)


def test_bad_arguments() -> None:
    with pytest.raises(ValidationError, match="min_ratio"):
        length_bias(np.array([0]), np.array([1]), np.array([2]), min_ratio=1.0)
    with pytest.raises(ValidationError, match="mixture weights"):
        ScriptedJudge(position=0.6, length=0.6)


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.shared_data
def test_llmfao_gpt4_against_the_crowd(shared_data: Path) -> None:
    d = shared_data / "llmfao"
    gpt4 = io.read(d / "gpt4-crowd-comparisons.csv")
    crowd = io.read(d / "crowd-comparisons.csv")
    (a,) = audit_judges(gpt4, crowd, self_pattern="GPT", default_name="gpt-4")
    rows = _csv(d / "gpt4-crowd-comparisons.csv")
    left = sum(r["winner"] == "left" for r in rows)
    right = sum(r["winner"] == "right" for r in rows)
    assert a.n == 2139 and a.position.n == left + right
    assert a.position.first_share == pytest.approx(left / (left + right))
    # self-preference counted straight from the CSV: pairs with exactly one GPT model, decisive verdicts
    own = [
        (r, "GPT" in r["left"], "GPT" in r["right"])
        for r in rows
        if ("GPT" in r["left"]) != ("GPT" in r["right"])
    ]
    dec = [(r, lo, ro) for r, lo, ro in own if r["winner"] != "tie"]
    k = sum((r["winner"] == "left") == lo for r, lo, _ in dec)
    assert a.self_preference is not None and a.self_preference.n == len(dec)
    assert a.self_preference.own_share == pytest.approx(k / len(dec))
    assert a.self_preference.flagged and a.self_preference.own_share > a.self_preference.reference_own_share
    assert a.agreement is not None and a.agreement.n == 2139 and 0 < a.agreement.kappa < 1


@pytest.mark.shared_data
def test_cli_audit_json_shape(shared_data: Path) -> None:
    d = shared_data / "llmfao"
    out = subprocess.run(
        [sys.executable, "-m", "prefkit.cli.main", "judge", "audit", str(d / "gpt4-crowd-comparisons.csv"),
         "--reference", str(d / "crowd-comparisons.csv"), "--format", "json", "--name", "gpt-4"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    j = json.loads(out.stdout)["judges"][0]
    assert j["judge"] == "gpt-4" and j["n"] == 2139
    assert set(j["position"]) >= {"first_share", "lower", "upper", "flagged"}
    assert set(j["length"]) >= {"longer_share", "reference_longer_share", "lower", "upper", "flagged"}
    assert set(j["agreement"]) >= {"rate", "kappa", "n"}
