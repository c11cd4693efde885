"""Simulators against closed forms: the curated-retraining loop against its exact k = 2 update and the paper's
qualitative results; f-divergence optimal policies against softmax, a quadratic solution and KKT conditions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from prefkit.errors import ValidationError
from prefkit.optimize.simulate.curation import expected_step, plot_curation, simulate_curation
from prefkit.optimize.simulate.fdiv_targets import f_prime, optimal_policy

P0 = np.full(6, 1 / 6)
R = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])


def test_curation_sampling_matches_the_exact_pairwise_update():
    res = simulate_curation(P0, R, k=2, n_samples=400_000, rounds=3, seed=1)
    p = P0
    for t in range(1, 4):
        p = expected_step(p, R)
        np.testing.assert_allclose(res.p[t], p, atol=4e-3)


def test_curation_raises_reward_and_collapses_diversity():
    res = simulate_curation(P0, R, k=4, n_samples=20_000, rounds=12, seed=0)
    assert np.all(np.diff(res.true_reward) > -0.02)  # non-decreasing up to sampling noise
    assert res.true_reward[-1] > 0.99 * R.max()  # collapses on the maximiser (from 1.25 to ~2.49)
    assert res.entropy[-1] < 0.5 * res.entropy[0]
    # real data keeps diversity (Ferbach et al.: stability with a share of real data)
    mixed = simulate_curation(P0, R, k=4, n_samples=20_000, rounds=12, real_fraction=0.5, seed=0)
    assert mixed.entropy[-1] > res.entropy[-1] + 0.3


def test_biased_curator_amplifies_the_bias(tmp_path):
    r_true = np.zeros(6)
    biased = np.array([0, 0, 0, 1.0, 1.0, 1.0])  # over-rewards a feature with no true value
    res = simulate_curation(P0, r_true, biased, bias_mask=biased > 0, k=2, n_samples=20_000, rounds=8)
    assert res.bias_share[0] == pytest.approx(0.5)
    assert res.bias_share[-1] > 0.95
    assert abs(res.true_reward[-1]) < 1e-12  # no true gain
    pytest.importorskip("matplotlib")
    plot_curation(res, str(tmp_path / "c.png"))
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_curation_bad_input():
    with pytest.raises(ValidationError, match="6 outcomes"):
        simulate_curation(P0, R[:5])
    with pytest.raises(ValidationError, match="NaN"):
        simulate_curation(P0, np.r_[R[:5], np.nan])
    with pytest.raises(ValidationError, match="real_fraction"):
        simulate_curation(P0, R, real_fraction=1.5)


REF = np.array([0.5, 0.3, 0.2])
RW = np.array([1.0, 0.0, 2.0])


def test_reverse_kl_is_the_softmax_tilt():
    pi = optimal_policy(REF, RW, beta=0.7)
    w = REF * np.exp(RW / 0.7)
    np.testing.assert_allclose(pi, w / w.sum(), rtol=1e-12)


def test_forward_kl_two_outcomes_closed_form():
    # pi_i = a_i beta / (lam - r_i); sum = 1 is a quadratic in lam
    a, r, beta = np.array([0.6, 0.4]), np.array([0.0, 1.0]), 0.5
    # (lam - r0)(lam - r1) = beta (a0 (lam - r1) + a1 (lam - r0))
    b = -(r[0] + r[1]) - beta * (a[0] + a[1])
    c = r[0] * r[1] + beta * (a[0] * r[1] + a[1] * r[0])
    lam = (-b + math.sqrt(b * b - 4 * c)) / 2  # the root above max r
    expected = a * beta / (lam - r)
    np.testing.assert_allclose(optimal_policy(a, r, beta, "forward_kl"), expected, rtol=1e-10)


@pytest.mark.parametrize(
    "f, alpha",
    [
        ("js_divergence", 0.5),
        ("alpha_divergence", 0.3),
        ("alpha_divergence", 0.5),
        ("alpha_divergence", 2.0),
        ("forward_kl", 0.5),
    ],
)
def test_kkt_stationarity(f, alpha):
    pi = optimal_policy(REF, RW, 0.7, f, alpha)
    assert pi.sum() == pytest.approx(1.0) and (pi >= 0).all()
    on = pi > 1e-12
    c = f_prime(pi[on] / REF[on], f, alpha) - RW[on] / 0.7
    assert np.ptp(c) < 1e-9
    # higher reward, higher probability ratio
    ratio = pi / REF
    assert ratio[2] >= ratio[0] >= ratio[1]


def test_alpha_to_one_is_reverse_kl_and_bad_input():
    np.testing.assert_allclose(
        optimal_policy(REF, RW, 0.7, "alpha_divergence", 1.0 - 1e-3), optimal_policy(REF, RW, 0.7), atol=2e-3
    )
    with pytest.raises(ValidationError, match="divergence"):
        optimal_policy(REF, RW, 0.7, "hellinger")
    with pytest.raises(ValidationError, match="sum to 1"):
        optimal_policy(np.array([0.5, 0.6, 0.2]), RW)
