"""Dissection: gradients, equality with scikit-learn, interval coverage on planted weights, degenerate data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import check_grad

from prefkit.analysis.dissect import (
    cosine_similarity,
    dissect,
    gradient,
    hessian,
    logistic_map,
    neg_log_posterior,
)
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
from prefkit.errors import DataProblemError, ValidationError


def _simulate(rng: np.random.Generator, n: int, w: np.ndarray, tie_rate: float = 0.0):
    x = rng.normal(size=(n, len(w)))
    p = 1.0 / (1.0 + np.exp(-x @ w))
    out = np.where(rng.random(n) < p, OUTCOME_A, OUTCOME_B).astype(np.int8)
    out[rng.random(n) < tie_rate] = OUTCOME_TIE
    return x, out


def test_gradient_and_hessian_match_finite_differences() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    y = rng.choice([0.0, 0.5, 1.0], size=50)
    w = rng.uniform(0.5, 2.0, size=50)
    prior = np.array([1.0, 0.5, 0.0])
    b0 = rng.normal(size=3)
    assert check_grad(neg_log_posterior, gradient, b0, x, y, w, prior) < 1e-5
    for k in range(3):

        def gk(b: np.ndarray, k: int = k) -> float:
            return float(gradient(b, x, y, w, prior)[k])

        def hk(b: np.ndarray, k: int = k) -> np.ndarray:
            return hessian(b, x, w, prior)[k]

        assert check_grad(gk, hk, b0) < 1e-5


@pytest.mark.parametrize("prior", [0.1, 1.0, 10.0])
def test_map_equals_sklearn_logistic_regression(prior: float) -> None:
    lm = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(1)
    x, out = _simulate(rng, 3000, np.array([1.0, -0.5, 0.0, 0.3]))
    res = dissect(x, out, ["p0", "p1", "p2", "p3"], prior_precision=prior, standardize=False)
    clf = lm.LogisticRegression(C=1.0 / prior, fit_intercept=False, tol=1e-12, max_iter=10_000)
    clf.fit(x, (out == OUTCOME_A).astype(int))
    np.testing.assert_allclose(res.groups[0].mean_vector(), clf.coef_[0], atol=1e-5)


def test_map_with_position_term_and_half_ties_equals_sklearn() -> None:
    lm = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(2)
    x, out = _simulate(rng, 2000, np.array([0.8, -0.4]), tie_rate=0.3)
    res = dissect(x, out, ["p0", "p1"], ties="half", intercept=True, standardize=False)
    tie = out == OUTCOME_TIE
    # a tie = two half-weighted rows, one won by each side
    xx = np.vstack([x[~tie], x[tie], x[tie]])
    yy = np.concatenate(
        [(out[~tie] == OUTCOME_A).astype(int), np.ones(tie.sum(), int), np.zeros(tie.sum(), int)]
    )
    sw = np.concatenate([np.ones((~tie).sum()), np.full(2 * tie.sum(), 0.5)])
    clf = lm.LogisticRegression(C=1.0, fit_intercept=True, tol=1e-12, max_iter=10_000)
    clf.fit(xx, yy, sample_weight=sw)
    g = res.groups[0]
    np.testing.assert_allclose(g.mean_vector(), clf.coef_[0], atol=1e-5)
    assert g.position is not None
    assert g.position.mean == pytest.approx(clf.intercept_[0], abs=1e-5)
    assert g.n == 2000 and g.n_ties == int(tie.sum())


def test_sandwich_free_laplace_sd_matches_statsmodels_without_prior() -> None:
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(3)
    x, out = _simulate(rng, 4000, np.array([0.7, -0.3, 0.2]))
    res = dissect(x, out, ["a", "b", "c"], prior_precision=0.0, standardize=False)
    fit = sm.Logit((out == OUTCOME_A).astype(float), x).fit(disp=0, tol=1e-12)
    g = res.groups[0]
    np.testing.assert_allclose(g.mean_vector(), fit.params, atol=1e-6)
    np.testing.assert_allclose([w.sd for w in g.weights], fit.bse, rtol=1e-6)


def test_planted_weights_recovered_with_nominal_coverage() -> None:
    """Over 200 simulated data sets the 90% intervals cover each planted weight about 90% of the time."""
    w_true = np.array([0.8, -0.5, 0.0, 0.3])
    hits = np.zeros(4)
    means = []
    seeds = 200
    for seed in range(seeds):
        rng = np.random.default_rng(100 + seed)
        x, out = _simulate(rng, 1500, w_true)
        g = dissect(x, out, ["a", "b", "c", "d"], prior_precision=1e-3, standardize=False, level=0.9).groups[
            0
        ]
        lo = np.array([w.lower for w in g.weights])
        hi = np.array([w.upper for w in g.weights])
        hits += (lo <= w_true) & (w_true <= hi)
        means.append(g.mean_vector())
    coverage = hits / seeds
    # binomial sd of a 90% coverage over 200 runs is about 0.021
    assert np.all(np.abs(coverage - 0.9) < 0.065), coverage
    np.testing.assert_allclose(np.mean(means, axis=0), w_true, atol=0.03)


def test_bayesian_coverage_with_weights_drawn_from_the_prior() -> None:
    """Weights drawn from the N(0, 1/prior) prior: the Laplace posterior intervals cover at the nominal rate."""
    prior = 4.0
    hits = total = 0
    for seed in range(150):
        rng = np.random.default_rng(seed)
        w = rng.normal(scale=prior**-0.5, size=3)
        x, out = _simulate(rng, 300, w)
        g = dissect(x, out, ["a", "b", "c"], prior_precision=prior, standardize=False, level=0.8).groups[0]
        lo = np.array([wt.lower for wt in g.weights])
        hi = np.array([wt.upper for wt in g.weights])
        hits += int(((lo <= w) & (w <= hi)).sum())
        total += 3
    assert abs(hits / total - 0.8) < 0.05


def test_constant_property_is_not_estimable_and_does_not_crash() -> None:
    rng = np.random.default_rng(4)
    x, out = _simulate(rng, 500, np.array([1.0, 0.0]))
    x[:, 1] = 0.0  # a property equal on both sides everywhere
    x = np.column_stack([x, np.full(500, 2.0)])  # a constant non-zero difference
    res = dissect(x, out, ["len", "same", "shift"], prior_precision=0.0, intercept=True)
    g = res.groups[0]
    assert [w.estimable for w in g.weights] == [True, False, False]
    assert np.isnan(g.weights[1].mean)
    d = res.to_dict()
    assert d["groups"][0]["weights"][1]["mean"] is None


def test_groups_similarity_and_too_few() -> None:
    rng = np.random.default_rng(5)
    w1, w2 = np.array([1.0, 0.5, 0.0]), np.array([-1.0, 0.5, 0.2])
    x1, o1 = _simulate(rng, 3000, w1)
    x2, o2 = _simulate(rng, 3000, w2)
    x3, o3 = _simulate(rng, 10, w1)
    x = np.vstack([x1, x2, x3])
    out = np.concatenate([o1, o2, o3])
    grp = np.repeat([0, 1, 2], [3000, 3000, 10])
    res = dissect(x, out, ["a", "b", "c"], grp, ["crowd", "judge", "tiny"], standardize=False, min_n=30)
    assert [g.group for g in res.groups] == ["crowd", "judge"]
    assert res.too_few == (("tiny", 10),)
    cos_true = float(w1 @ w2 / np.linalg.norm(w1) / np.linalg.norm(w2))
    assert res.similarity[0, 1] == pytest.approx(cos_true, abs=0.05)
    assert res.similarity[0, 0] == pytest.approx(1.0)
    assert res.group("judge").weights[0].upper < 0 < res.group("crowd").weights[0].lower


def test_standardized_weights_are_per_sd() -> None:
    rng = np.random.default_rng(6)
    x, out = _simulate(rng, 4000, np.array([0.6]))
    raw = dissect(x * 100.0, out, ["chars"], standardize=False, prior_precision=0.0).groups[0]
    std = dissect(x * 100.0, out, ["chars"], prior_precision=0.0)
    assert std.groups[0].weights[0].mean == pytest.approx(raw.weights[0].mean * std.scales[0], rel=1e-6)


def test_separable_data_without_prior_is_a_clear_error() -> None:
    x = np.array([[1.0], [2.0], [-1.0], [-2.0]] * 10)
    out = np.where(x[:, 0] > 0, OUTCOME_A, OUTCOME_B)
    with pytest.raises(DataProblemError, match="separate the verdicts"):
        dissect(x, out, ["p"], prior_precision=0.0, min_n=1)
    assert dissect(x, out, ["p"], prior_precision=1.0, min_n=1).groups[0].weights[0].mean > 0


def test_bad_inputs() -> None:
    x = np.zeros((5, 2))
    out = np.zeros(5, dtype=np.int8)
    with pytest.raises(ValidationError, match="diffs"):
        dissect(x, out, ["a"])
    with pytest.raises(ValidationError, match="ties"):
        dissect(x, out, ["a", "b"], ties="count")
    with pytest.raises(ValidationError, match="outcome"):
        dissect(x, out[:3], ["a", "b"])
    with pytest.raises(DataProblemError, match="min_n"):
        dissect(x, out, ["a", "b"])
    with pytest.raises(ValidationError, match="prior"):
        dissect(x, out, ["a", "b"], prior_precision=-1)


def test_nan_rows_are_dropped_and_counted() -> None:
    rng = np.random.default_rng(7)
    x, out = _simulate(rng, 200, np.array([1.0, 0.0]))
    x[:7, 1] = np.nan
    res = dissect(x, out, ["a", "b"])
    assert res.n_dropped_missing == 7 and res.groups[0].n == 193


def test_cosine_similarity_ignores_missing_coordinates() -> None:
    s = cosine_similarity([np.array([1.0, np.nan, 1.0]), np.array([2.0, 5.0, 2.0])])
    assert s[0, 1] == pytest.approx(1.0)


def test_logistic_map_direct() -> None:
    x = np.array([[1.0], [-1.0], [1.0], [-1.0]])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    beta, h = logistic_map(x, y, np.ones(4), np.array([1.0]))
    assert beta[0] == pytest.approx(0.0, abs=1e-12)
    assert h[0, 0] == pytest.approx(2.0)
