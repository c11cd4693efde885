"""Calibration and evaluation against closed forms and simulations with a known temperature."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefkit.errors import ValidationError
from prefkit.reward.calibration import fit_temperature, pair_nll, reliability, reliability_diagram
from prefkit.reward.evaluate import (
    accuracy_strict,
    cross_validate,
    evaluate_margins,
    group_accuracy,
    kfold_indices,
)


def simulated_margins(T: float, n: int = 20000, seed: int = 0) -> np.ndarray:
    """Margins m with P(chosen wins) = sigmoid(m / T), oriented so that positive = the winner's side."""
    rng = np.random.default_rng(seed)
    m = rng.normal(0, 3, n)
    wins = rng.random(n) < 1 / (1 + np.exp(-m / T))
    return np.where(wins, m, -m)


@pytest.mark.parametrize("T", [0.5, 2.0])
def test_temperature_scaling_recovers_planted_temperature(T: float) -> None:
    assert fit_temperature(simulated_margins(T)) == pytest.approx(T, rel=0.08)


def test_calibrated_margins_have_small_ece_and_overconfident_ones_large() -> None:
    m = simulated_margins(1.0)
    assert reliability(m).ece < 0.02
    assert reliability(m * 4).ece > 0.1  # over-confident
    assert reliability(m * 4, temperature=fit_temperature(m * 4)).ece < 0.02


def test_ece_ace_mce_by_hand() -> None:
    # margins give confidences 0.731 (x2, one right) and 0.881 (x2, both right), two bins apart
    m = np.array([1.0, -1.0, 2.0, 2.0])
    rel = reliability(m, n_bins=5)
    c1, c2 = 1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(-2.0))
    assert rel.ece == pytest.approx((2 * abs(c1 - 0.5) + 2 * abs(c2 - 1.0)) / 4)
    assert rel.mce == pytest.approx(max(abs(c1 - 0.5), abs(c2 - 1.0)))
    assert rel.ace == pytest.approx((abs(c1 - 0.5) + abs(c2 - 1.0)) / 2)


def test_nll_closed_form() -> None:
    assert pair_nll(np.array([0.0])) == pytest.approx(np.log(2))
    assert pair_nll(np.array([2.0]), temperature=2.0) == pytest.approx(np.log1p(np.exp(-1.0)))


def test_accuracy_is_strict_ties_count_as_wrong() -> None:
    assert accuracy_strict(np.array([1.0, 0.0, -1.0, 2.0])) == 0.5


@given(st.lists(st.floats(-50, 50), min_size=1, max_size=40))
@settings(max_examples=50, deadline=None)
def test_accuracy_and_errors_are_bounded(ms: list[float]) -> None:
    ev = evaluate_margins(np.array(ms))
    assert 0 <= ev.accuracy <= 1 and 0 <= ev.ece <= ev.mce + 1e-12 and ev.mce <= 1 and ev.nll >= 0  # ECE is a weighted mean of bin errors: up to rounding


def test_subsets_and_rewardbench_sections() -> None:
    m = np.array([1, 1, -1, 1, -1, -1, 1, 1.0])
    subset = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    ev = evaluate_margins(
        m,
        subset=subset,
        subset_names=["easy", "hard", "safe"],
        sections={"chat": ["easy", "hard"], "safety": ["safe"]},
    )
    assert ev.subsets == {"easy": 0.75, "hard": 0.0, "safe": 1.0}
    assert ev.sections == {"chat": 0.5, "safety": 1.0}  # chat pools its subsets: 3 right of 6
    assert ev.section_score == 0.75
    with pytest.raises(ValidationError, match="section 'code'"):
        evaluate_margins(m, subset=subset, subset_names=["easy", "hard", "safe"], sections={"code": ["x"]})


def test_group_accuracy_worst_group() -> None:
    ga = group_accuracy(np.array([1, 1, -1, 1.0]), np.array([0, 0, 1, 1]), ["majority", "minority"])
    assert ga.per_group == {"majority": 1.0, "minority": 0.5}
    assert (ga.worst, ga.worst_group) == (0.5, "minority")


def test_kfold_partitions_and_keeps_groups_together() -> None:
    groups = np.repeat(np.arange(20), 3)
    folds = kfold_indices(60, 5, groups=groups, seed=1)
    allidx = np.sort(np.concatenate(folds))
    np.testing.assert_array_equal(allidx, np.arange(60))
    for f in folds:
        assert set(groups[f]).isdisjoint(set(np.setdiff1d(groups, groups[f])))
    with pytest.raises(ValidationError, match="at least 2 folds"):
        kfold_indices(10, 1)


def test_cross_validate_with_a_known_model() -> None:
    pytest.importorskip("torch")
    from prefkit.reward.pipeline import fit_head

    from .conftest import planted_pairs

    pairs, w = planted_pairs(n=500, d=4, seed=8)
    res = cross_validate(lambda tr: fit_head("bt", tr).margins, pairs, 5)
    oracle = float(((pairs.xc - pairs.xr) @ w > 0).mean())
    assert len(res.folds) == 5 and abs(res.accuracy - oracle) < 0.04


def test_reliability_diagram_png(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    out = reliability_diagram(reliability(simulated_margins(1.0, n=500)), tmp_path / "rel.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("T", [0.05, 1.0, 250.0, 5000.0])
def test_temperature_is_estimated_beyond_the_old_bounds(T) -> None:
    # the NLL is convex in 1/T: the exact minimiser matches a dense grid search, however large T is
    from prefkit.reward.calibration import calibrate_temperature

    m = simulated_margins(1.0) * T
    fit = calibrate_temperature(m)
    grid = np.exp(np.linspace(np.log(T) - 1, np.log(T) + 1, 4001))
    best = grid[np.argmin([pair_nll(m, t) for t in grid])]
    assert fit.status == "fitted"
    assert fit.estimate == pytest.approx(best, rel=2e-3)
    assert fit.estimate == pytest.approx(T, rel=0.1)


def test_plackett_luce_on_rankings_is_calibrated_on_held_out_rankings(tmp_path) -> None:
    """ECE on held-out rankings' pairs: temperature from the training pairs (the old route: PL fits them almost
    perfectly, so T collapses and probabilities are overconfident) vs from held-out training units (now)."""
    pytest.importorskip("torch")
    from prefkit.data import io
    from prefkit.reward.calibration import calibrate_temperature
    from prefkit.reward.encoders import parse_encoder
    from prefkit.reward.evaluate import kfold_indices
    from prefkit.reward.pipeline import Embedder, fit_units, held_out_temperature, judge, pairs_in

    from .conftest import rankings_file

    path = tmp_path / "rk.jsonl"
    rankings_file(path, n_prompts=150, k=5, noise=1.0)
    j = judge(io.read(path), Embedder(parse_encoder("hashing"), use_cache=False))
    units = j.units
    before, after = [], []
    for test in kfold_indices(len(units), 3, seed=0):
        tr = np.delete(units, test)
        head = fit_units("pl", {}, j, tr)
        m = head.margins(pairs_in(j, units[test]).pairs)
        old = calibrate_temperature(head.margins(pairs_in(j, tr).pairs))
        new = held_out_temperature("pl", {}, j, tr, holdout=0.2)
        assert new.status == "fitted"
        before.append(reliability(m, temperature=old.value).ece)
        after.append(reliability(m, temperature=new.value).ece)
    print(
        f"PL on rankings, held-out ECE: train-pair temperature {np.mean(before):.3f}, held-out {np.mean(after):.3f}"
    )
    assert np.mean(after) < 0.08
    assert np.mean(after) < np.mean(before)
