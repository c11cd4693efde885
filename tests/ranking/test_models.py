"""Tie models, online Elo, Plackett-Luce and style control: truth, oracles, gradients, bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import check_grad

from prefkit.errors import DataProblemError, ValidationError
from prefkit.ranking._pairfit import loglik_and_grad, neg_hessian
from prefkit.ranking.bt import bootstrap_pairs, fit_bt
from prefkit.ranking.counts import count_pairwise
from prefkit.ranking.elo import bootstrap_elo, elo_pairwise
from prefkit.ranking.pl import _Stages, bootstrap_pl, fit_pl
from prefkit.ranking.style import _Data, arena_style_features, fit_bt_style, style_loglik_grad_hess
from prefkit.ranking.ties import DAVIDSON, RAO_KUPPER, davidson_tie_probability, fit_davidson, fit_rao_kupper


@pytest.mark.parametrize(
    ("model", "eta", "fit"), [("davidson", np.log(0.8), fit_davidson), ("rao-kupper", 0.4, fit_rao_kupper)]
)
def test_tie_models_recover_truth(sim, model, eta, fit):
    rng = np.random.default_rng(11)
    theta = rng.normal(0, 1, 8)
    theta -= theta.mean()
    a, b, out = sim(theta, 60_000, rng, model=model, eta=eta)
    res = fit(count_pairwise(a, b, out))
    assert abs(res.tie_param - eta) < 4 * res.tie_param_se
    assert np.max(np.abs(res.theta - theta) / res.se) < 4.5


@pytest.mark.parametrize("model", [DAVIDSON, RAO_KUPPER])
def test_tie_model_gradients(sim, model):
    rng = np.random.default_rng(12)
    a, b, out = sim(rng.normal(size=5), 800, rng, tie_rate=0.3)
    table = count_pairwise(a, b, out)
    x0 = np.append(rng.normal(0, 0.5, 5), 0.3)

    def f(x):
        return loglik_and_grad(table, model, x)[0]

    def g(x):
        return loglik_and_grad(table, model, x)[1]

    assert check_grad(f, g, x0) < 1e-5 * np.abs(g(x0)).max()
    H = neg_hessian(table, model, x0)
    num = np.array([(g(x0 + 1e-6 * e) - g(x0 - 1e-6 * e)) / 2e-6 for e in np.eye(6)])
    np.testing.assert_allclose(-num, H, atol=1e-4 * np.abs(H).max())


def test_tie_models_bootstrap_and_bad_inputs(sim):
    rng = np.random.default_rng(13)
    a, b, out = sim(rng.normal(size=5), 4000, rng, model="davidson", eta=0.0)
    table = count_pairwise(a, b, out)
    fit = fit_davidson(table)
    boot = bootstrap_pairs(table, fit, rounds=200, rng=np.random.default_rng(0))
    assert boot.tie_param is not None
    np.testing.assert_allclose(boot.tie_param.std(), fit.tie_param_se, rtol=0.25)
    assert 0 < davidson_tie_probability(fit.tie_param) < 1
    with pytest.raises(DataProblemError, match="needs ties"):
        fit_davidson(count_pairwise([0, 1, 2], [1, 2, 0], [0, 0, 0]))
    with pytest.raises(DataProblemError, match="every comparison is a tie"):
        fit_rao_kupper(count_pairwise([0, 1, 2], [1, 2, 0], [2, 2, 2]))


def test_elo_matches_fastchat_online_formula():
    a = np.array([0, 1, 2, 0])
    b = np.array([1, 2, 0, 2])
    out = np.array([0, 2, 1, 0])
    r = np.full(3, 1000.0)
    for x, y, o in zip(a, b, out, strict=True):  # FastChat compute_online_elo, written out
        ea = 1 / (1 + 10 ** ((r[y] - r[x]) / 400))
        sa = {0: 1.0, 1: 0.0, 2: 0.5}[int(o)]
        r[x] += 4 * (sa - ea)
        r[y] += 4 * (1 - sa - (1 - ea))
    np.testing.assert_allclose(elo_pairwise(a, b, out, 3), r)


def test_elo_bootstrap_and_bad_inputs(sim):
    rng = np.random.default_rng(14)
    a, b, out = sim(np.array([1.0, 0.0, -1.0]), 3000, rng)
    boot = bootstrap_elo(a, b, out, 3, rounds=20, rng=np.random.default_rng(0))
    assert boot.shape == (20, 3)
    assert np.all(boot[:, 0] > boot[:, 2])
    np.testing.assert_allclose(boot.mean(axis=1), 1000.0)  # Elo conserves the total
    with pytest.raises(DataProblemError, match="empty"):
        elo_pairwise(np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), 3)
    with pytest.raises(ValidationError, match="k must"):
        elo_pairwise(a, b, out, 3, k=-1)


def _pl_rankings(theta, n_rank, k, rng, tie_groups=None):
    n = len(theta)
    members, levels = [], []
    for _ in range(n_rank):
        items = rng.choice(n, k, replace=False)
        order = items[np.argsort(-(theta[items] + rng.gumbel(size=k)))]
        members += list(order)
        levels += list(tie_groups) if tie_groups is not None else list(range(k))
    return np.arange(n_rank + 1) * k, np.array(members), np.array(levels)


def test_pl_recovers_truth_and_equals_bt_on_pairs(sim):
    rng = np.random.default_rng(15)
    theta = rng.normal(0, 1, 7)
    theta -= theta.mean()
    offs, mem, lev = _pl_rankings(theta, 6000, 4, rng)
    fit = fit_pl(offs, mem, lev, 7)
    assert np.max(np.abs(fit.theta - theta) / fit.se) < 4.5
    np.testing.assert_allclose(fit.se, np.sqrt(np.diag(fit.cov_model)), rtol=0.15)
    a, b, out = sim(theta, 3000, rng)
    win = np.where(out == 0, a, b)
    lose = np.where(out == 0, b, a)
    pl = fit_pl(np.arange(3001) * 2, np.stack([win, lose], 1).ravel(), np.tile([0, 1], 3000), 7)
    bt = fit_bt(count_pairwise(a, b, out))
    np.testing.assert_allclose(pl.theta, bt.theta, atol=1e-9)
    np.testing.assert_allclose(pl.se, bt.se, rtol=1e-6)


def test_pl_matches_choix_and_gradient(require_peer):
    choix = require_peer("choix")
    rng = np.random.default_rng(16)
    theta = rng.normal(0, 1, 6)
    offs, mem, lev = _pl_rankings(theta, 800, 3, rng)
    ref = choix.ilsr_rankings(6, [list(mem[o : o + 3]) for o in offs[:-1]], tol=1e-12)
    fit = fit_pl(offs, mem, lev, 6)
    np.testing.assert_allclose(fit.theta, ref - ref.mean(), atol=1e-6)
    offs, mem, lev = _pl_rankings(theta, 300, 4, rng, tie_groups=[0, 1, 1, 2])
    st = _Stages(offs, mem, lev, 6)
    w = np.ones(len(st.gsize))
    x0 = rng.normal(size=6)
    assert check_grad(lambda t: st.loglik(t, w, 0.3), lambda t: st.grad_hess(t, w, 0.3)[0], x0) < 1e-4
    g = lambda t: st.grad_hess(t, w, 0.3)[0]  # noqa: E731
    num = np.array([(g(x0 + 1e-6 * e) - g(x0 - 1e-6 * e)) / 2e-6 for e in np.eye(6)])
    np.testing.assert_allclose(-num, st.grad_hess(x0, w, 0.3)[1], atol=1e-4)
    tied = fit_pl(offs, mem, lev, 6)
    assert np.corrcoef(tied.theta, theta)[0, 1] > 0.9
    boot = bootstrap_pl(offs, mem, lev, 6, tied, rounds=30, rng=np.random.default_rng(0))
    assert boot.shape == (30, 6)


def test_pl_bad_inputs():
    with pytest.raises(DataProblemError, match="no rankings"):
        fit_pl(np.zeros(1, int), np.zeros(0, int), np.zeros(0, int), 3)
    with pytest.raises(DataProblemError, match="diverge"):
        fit_pl(np.array([0, 2, 4]), np.array([0, 1, 0, 2]), np.array([0, 1, 0, 1]), 3)
    with pytest.raises(ValidationError, match="weight"):
        fit_pl(np.array([0, 2]), np.array([0, 1]), np.array([0, 1]), 2, weight=np.array([-1.0]))


def _style_data(rng, n=8, n_battles=20_000, beta=(0.6, -0.3)):
    theta = rng.normal(0, 1, n)
    theta -= theta.mean()
    a = rng.integers(0, n, n_battles)
    b = (a + rng.integers(1, n, n_battles)) % n
    X = rng.normal(size=(n_battles, len(beta)))
    z = theta[a] - theta[b] + X @ np.asarray(beta)
    out = np.where(rng.random(n_battles) < 1 / (1 + np.exp(-z)), 0, 1)
    return theta, a, b, X, out


def test_style_recovers_truth_and_gradient():
    rng = np.random.default_rng(17)
    theta, a, b, X, out = _style_data(rng)
    fit = fit_bt_style(a, b, out, X, 8, standardize=False, feature_names=["length", "bold"])
    np.testing.assert_allclose(fit.coef, [0.6, -0.3], atol=4 * fit.coef_se.max())
    assert np.max(np.abs(fit.theta - theta) / fit.se) < 4.5
    d = _Data(a[:300], b[:300], np.where(out[:300] == 0, 1.0, 0.0), np.ones(300), X[:300], 8)
    x0 = rng.normal(size=10)

    def f(x):
        return style_loglik_grad_hess(x, d, 0.2, 0.1)[0]

    def g(x):
        return style_loglik_grad_hess(x, d, 0.2, 0.1)[1]

    assert check_grad(f, g, x0) < 1e-5 * np.abs(g(x0)).max()
    num = np.array([(g(x0 + 1e-6 * e) - g(x0 - 1e-6 * e)) / 2e-6 for e in np.eye(10)])
    np.testing.assert_allclose(-num, style_loglik_grad_hess(x0, d, 0.2, 0.1)[2], atol=1e-4)


def test_style_matches_arena_rank_contextual(require_peer):
    cbt = require_peer("arena_rank.models.contextual_bradley_terry")
    from arena_rank.utils.data_utils import ContextualPairDataset

    rng = np.random.default_rng(18)
    theta, a, b, X, out = _style_data(rng, n=6, n_battles=6000)
    out = np.where(rng.random(len(out)) < 0.1, 2, out)
    names = np.array([f"m{k}" for k in range(6)])
    df = pd.DataFrame(
        {
            "model_a": names[a],
            "model_b": names[b],
            "winner": np.array(["model_a", "model_b", "tie"])[out],
            "f0": X[:, 0],
            "f1": X[:, 1],
        }
    )
    ds = ContextualPairDataset.from_pandas(df, ["f0", "f1"], reweighted=False)
    model = cbt.ContextualBradleyTerry(len(ds.competitors), 2, reg=0.0)
    res = model.compute_ratings_and_cis(ds)
    ref = pd.Series(np.asarray(res["ratings"]), index=ds.competitors).reindex(names).to_numpy()
    fit = fit_bt_style(a, b, out, X, 6)
    ours = 1000 + 400 / np.log(10) * fit.theta
    np.testing.assert_allclose(ours - ours.mean(), ref - ref.mean(), atol=0.05)
    np.testing.assert_allclose(fit.coef, np.asarray(res["coeffs"]), atol=1e-4)


def test_style_features_and_bad_inputs():
    X = arena_style_features([100, 0], [50, 0], [[2, 0]], [[0, 0]])
    np.testing.assert_allclose(X, [[50 / 150, 1.0], [0.0, 0.0]])
    with pytest.raises(ValidationError, match="NaN"):
        fit_bt_style([0, 1], [1, 0], [0, 1], [[np.nan], [1.0]], 2)
    with pytest.raises(DataProblemError, match="empty"):
        fit_bt_style([], [], [], np.zeros((0, 1)), 2)
