"""Weng-Lin updates against openskill (outside oracle) and against the K = 2 closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openskill.models import BradleyTerryFull, PlackettLuce, ThurstoneMostellerFull

from prefkit.errors import ValidationError
from prefkit.ranking.arena.skills import (
    SkillParams,
    elo_pairwise,
    ranks_from_best,
    weng_lin_bt,
    weng_lin_pl,
    weng_lin_tm,
    weng_lin_update,
)

ORACLES = [
    (PlackettLuce, weng_lin_pl),
    (BradleyTerryFull, weng_lin_bt),
    (ThurstoneMostellerFull, weng_lin_tm),
]


def _openskill(model, mu, sigma, ranks):
    teams = [[model.rating(mu=float(a), sigma=float(b))] for a, b in zip(mu, sigma, strict=True)]
    out = model.rate(teams, ranks=[float(r) for r in ranks])
    return np.array([t[0].mu for t in out]), np.array([t[0].sigma for t in out])


@pytest.mark.parametrize(("oracle", "ours"), ORACLES)
def test_matches_openskill_random_matches(oracle, ours):
    rng = np.random.default_rng(1)
    model = oracle()
    for _ in range(60):
        k = int(rng.integers(2, 7))
        mu, sigma = rng.normal(25, 6, k), rng.uniform(0.5, 9, k)
        ranks = rng.integers(0, k, k)  # ties included
        exp_mu, exp_sigma = _openskill(model, mu, sigma, ranks)
        got_mu, got_sigma = ours(mu, sigma, ranks)
        np.testing.assert_allclose(got_mu, exp_mu, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(got_sigma, exp_sigma, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("oracle", "ours"), ORACLES)
def test_matches_openskill_custom_params(oracle, ours):
    kw = dict(beta=2.0, kappa=1e-3, tau=0.3)
    model = oracle(mu=0.0, sigma=3.0, **kw)
    mu, sigma, ranks = np.array([0.5, -1.0, 2.0, 0.0]), np.array([3.0, 1.0, 2.5, 0.7]), np.array([1, 0, 1, 2])
    exp = _openskill(model, mu, sigma, ranks)
    got = ours(mu, sigma, ranks, **kw)
    np.testing.assert_allclose(got, exp, rtol=1e-9, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.floats(-30, 30), st.floats(-30, 30), st.floats(0.2, 10), st.floats(0.2, 10), st.floats(0.5, 8))
def test_pl_pairwise_closed_form(mu_w, mu_l, s_w, s_l, beta):
    """K = 2, winner first: mu_w += s_w^2/c (1 - p_w), sigma_w^2 *= 1 - (s_w/c)^3 p_w p_l (openskill's gamma)."""
    c = math.sqrt(s_w**2 + s_l**2 + 2 * beta**2)
    p_w = 1 / (1 + math.exp((mu_l - mu_w) / c))
    mu, sigma = weng_lin_pl([mu_w, mu_l], [s_w, s_l], [0, 1], beta=beta, tau=0.0)
    assert mu[0] == pytest.approx(mu_w + s_w**2 / c * (1 - p_w), rel=1e-9, abs=1e-9)
    assert mu[1] == pytest.approx(mu_l - s_l**2 / c * (1 - p_w), rel=1e-9, abs=1e-9)
    shrink = max(1 - (s_w / c) ** 3 * p_w * (1 - p_w), 1e-4)
    assert sigma[0] == pytest.approx(s_w * math.sqrt(shrink), rel=1e-9)


def test_bt_pairwise_closed_form_full_step():
    """Bradley-Terry, K = 2, gamma = 1: the logistic moment-matching step of Weng and Lin's Algorithm 1."""
    mu_w, mu_l, s_w, s_l, beta = 20.0, 24.0, 5.0, 3.0, 4.0
    c = math.sqrt(s_w**2 + s_l**2 + 2 * beta**2)
    p = 1 / (1 + math.exp(-(mu_w - mu_l) / c))
    mu, sigma = weng_lin_bt([mu_w, mu_l], [s_w, s_l], [0, 1], beta=beta, tau=0.0, gamma=1.0)
    assert mu[0] == pytest.approx(mu_w + s_w**2 / c * (1 - p))
    assert mu[1] == pytest.approx(mu_l - s_l**2 / c * (1 - p))
    assert sigma[1] == pytest.approx(s_l * math.sqrt(1 - s_l**2 / c**2 * p * (1 - p)))


def test_tm_pairwise_closed_form_is_trueskill_like():
    """Thurstone-Mosteller, K = 2, no draw margin: mu_w += s^2/c * v(x) with v = phi(x)/Phi(x)."""
    from scipy.stats import norm

    mu_w, mu_l, s_w, s_l, beta = 25.0, 27.0, 6.0, 4.0, 4.0
    c = math.sqrt(s_w**2 + s_l**2 + 2 * beta**2)
    x = (mu_w - mu_l) / c
    v = norm.pdf(x) / norm.cdf(x)
    mu, _ = weng_lin_tm([mu_w, mu_l], [s_w, s_l], [0, 1], beta=beta, tau=0.0, epsilon=0.0)
    assert mu[0] == pytest.approx(mu_w + s_w**2 / c * v)
    assert mu[1] == pytest.approx(mu_l - s_l**2 / c * v)


def test_winner_gains_loser_loses_and_ties_are_symmetric():
    mu, sigma = weng_lin_pl([25, 25, 25], [8, 8, 8], ranks_from_best(3, 1), tau=0.0)
    assert mu[1] > 25 > mu[0] and mu[0] == pytest.approx(mu[2])
    assert np.all(sigma < 8)
    mu, _ = weng_lin_bt([25, 25], [8, 8], [0, 0], tau=0.0)
    np.testing.assert_allclose(mu, [25, 25])


def test_dispatch_and_bad_input():
    p = SkillParams(beta=3.0, tau=0.0)
    np.testing.assert_allclose(
        weng_lin_update([1.0, 2.0], [1.0, 1.0], [1, 0], "bt", p),
        weng_lin_bt([1.0, 2.0], [1.0, 1.0], [1, 0], beta=3.0, tau=0.0),
    )
    with pytest.raises(ValidationError, match="unknown skill model"):
        weng_lin_update([1.0, 2.0], [1.0, 1.0], [1, 0], "glicko")
    with pytest.raises(ValidationError, match="same length"):
        weng_lin_pl([1.0, 2.0], [1.0], [0, 1])
    with pytest.raises(ValidationError, match="at least 2"):
        weng_lin_pl([1.0], [1.0], [0])
    with pytest.raises(ValidationError, match="beta"):
        SkillParams(beta=0.0)


def test_elo_closed_form():
    a, b = elo_pairwise(1000.0, 1000.0, 1.0, k_factor=4.0)
    assert (a, b) == (1002.0, 998.0)
    a, b = elo_pairwise(1400.0, 1000.0, 0.5, k_factor=32.0)
    assert a == pytest.approx(1400 + 32 * (0.5 - 10 / 11))
