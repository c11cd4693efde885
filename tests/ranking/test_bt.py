"""Bradley-Terry on the count table: truth recovery, oracles (FastChat, arena-rank, choix), gradients,
invariances, bootstrap, and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import check_grad

from prefkit.errors import DataProblemError, ValidationError
from prefkit.ranking._pairfit import loglik_and_grad, neg_hessian
from prefkit.ranking.bt import BT_MODEL, bootstrap_pairs, fit_bt
from prefkit.ranking.counts import count_pairwise, item_totals

ELO = 400 / math.log(10)


def test_recovers_truth(sim):
    rng = np.random.default_rng(1)
    theta = rng.normal(0, 1, 10)
    theta -= theta.mean()
    a, b, out = sim(theta, 60_000, rng)
    fit = fit_bt(count_pairwise(a, b, out))
    assert np.max(np.abs(fit.theta - theta) / fit.se) < 4
    assert np.max(np.abs(fit.theta - theta)) < 0.06


def test_matches_fastchat_and_arena_rank(sim, fastchat, require_peer):
    arena_bt = require_peer("arena_rank.models.bradley_terry")
    from arena_rank.utils.data_utils import PairDataset

    rng = np.random.default_rng(2)
    theta = rng.normal(0, 0.8, 12)
    a, b, out = sim(theta, 20_000, rng, tie_rate=0.2)
    names = np.array([f"m{k:02d}" for k in range(12)])
    df = pd.DataFrame(
        {"model_a": names[a], "model_b": names[b], "winner": np.array(["model_a", "model_b", "tie"])[out]}
    )
    fc = fastchat.compute_mle_elo(df).reindex(names).to_numpy()
    ds = PairDataset.from_pandas(df)
    model = arena_bt.BradleyTerry(n_competitors=len(ds.competitors))
    ar = np.asarray(model.compute_ratings_and_cis(ds)["ratings"])
    ar = pd.Series(ar, index=ds.competitors).reindex(names).to_numpy()
    fit = fit_bt(count_pairwise(a, b, out, names=list(names)))
    ours = 1000 + ELO * fit.theta
    centred = [x - x.mean() for x in (fc, ar, ours)]
    assert np.max(np.abs(centred[0] - centred[1])) < 0.05  # the two peers agree with each other
    assert np.max(np.abs(centred[2] - centred[0])) < 0.05
    assert np.max(np.abs(centred[2] - centred[1])) < 0.05
    # arena-rank's sandwich intervals (with its tiny Hessian ridge) match ours
    res = model.compute_ratings_and_cis(ds)
    width = pd.Series(np.asarray(res["rating_upper"] - res["ratings"]), index=ds.competitors).reindex(names)
    ours_w = 1.959963984540054 * fit.se * ELO
    np.testing.assert_allclose(ours_w, width.to_numpy(), rtol=2e-3)


def test_matches_choix_without_ties(sim, require_peer):
    choix = require_peer("choix")
    rng = np.random.default_rng(3)
    theta = rng.normal(0, 1, 8)
    a, b, out = sim(theta, 5000, rng)
    data = [(int(x), int(y)) if o == 0 else (int(y), int(x)) for x, y, o in zip(a, b, out, strict=True)]
    ref = choix.ilsr_pairwise(8, data, tol=1e-12)
    fit = fit_bt(count_pairwise(a, b, out))
    np.testing.assert_allclose(fit.theta, ref - ref.mean(), atol=1e-6)


@pytest.mark.parametrize("prior", [0.0, 0.7])
def test_gradient_and_hessian(sim, prior):
    rng = np.random.default_rng(4)
    a, b, out = sim(rng.normal(size=6), 500, rng, tie_rate=0.3)
    table = count_pairwise(a, b, out)
    x0 = rng.normal(size=6)

    def f(x):
        return loglik_and_grad(table, BT_MODEL, x, prior)[0]

    def g(x):
        return loglik_and_grad(table, BT_MODEL, x, prior)[1]

    assert check_grad(f, g, x0) < 1e-4 * np.abs(g(x0)).max()
    H = neg_hessian(table, BT_MODEL, x0, prior)
    num = np.array([(g(x0 + 1e-6 * e) - g(x0 - 1e-6 * e)) / 2e-6 for e in np.eye(6)])
    np.testing.assert_allclose(-num, H, atol=1e-4 * np.abs(H).max())


@st.composite
def battle_logs(draw):
    n = draw(st.integers(3, 6))
    rows = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(1, n - 1), st.integers(0, 2)),
            min_size=3 * n,
            max_size=40,
        )
    )
    a = np.array([r[0] for r in rows])
    b = (a + np.array([r[1] for r in rows])) % n
    out = np.array([r[2] for r in rows])
    # a ring of mutual wins keeps the MLE finite
    ring = np.arange(n)
    a = np.concatenate([a, ring, (ring + 1) % n])
    b = np.concatenate([b, (ring + 1) % n, ring])
    out = np.concatenate([out, np.zeros(2 * n, dtype=int)])
    return n, a, b, out


@settings(max_examples=25, deadline=None)
@given(battle_logs(), st.randoms(use_true_random=False))
def test_relabelling_and_duplication_invariance(log, rnd):
    n, a, b, out = log
    fit = fit_bt(count_pairwise(a, b, out, n_items=n))
    perm = np.array(rnd.sample(range(n), n))
    fit_p = fit_bt(count_pairwise(perm[a], perm[b], out, n_items=n))
    np.testing.assert_allclose(fit_p.theta[perm], fit.theta, atol=1e-7)
    swapped = fit_bt(count_pairwise(b, a, np.where(out == 2, 2, 1 - out), n_items=n))
    np.testing.assert_allclose(swapped.theta, fit.theta, atol=1e-7)
    doubled = fit_bt(count_pairwise(np.tile(a, 2), np.tile(b, 2), np.tile(out, 2), n_items=n))
    np.testing.assert_allclose(doubled.theta, fit.theta, atol=1e-7)
    np.testing.assert_allclose(doubled.se * math.sqrt(2), fit.se, rtol=1e-6)


def test_bootstrap_matches_sandwich_and_is_seeded(sim):
    rng = np.random.default_rng(5)
    a, b, out = sim(rng.normal(size=8), 8000, rng, tie_rate=0.1)
    table = count_pairwise(a, b, out)
    fit = fit_bt(table)
    boot = bootstrap_pairs(table, fit, rounds=400, rng=np.random.default_rng(0))
    assert boot.converged.all()
    np.testing.assert_allclose(boot.theta.std(axis=0), fit.se, rtol=0.15)
    again = bootstrap_pairs(table, fit, rounds=400, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(boot.theta, again.theta)
    multi = bootstrap_pairs(table, fit, rounds=300, rng=np.random.default_rng(1), resampling="multinomial")
    np.testing.assert_allclose(multi.theta.std(axis=0), fit.se, rtol=0.15)


def test_bootstrap_rounds_equal_single_refits(sim):
    """Each vectorised round equals an independent fit on the same resampled counts."""
    from prefkit.ranking.bt import bootstrap_weights

    rng = np.random.default_rng(6)
    a, b, out = sim(rng.normal(size=5), 2000, rng, tie_rate=0.2)
    table = count_pairwise(a, b, out)
    fit = fit_bt(table)
    boot = bootstrap_pairs(table, fit, rounds=5, rng=np.random.default_rng(9))
    w = bootstrap_weights(table, 5, np.random.default_rng(9))
    for r in range(5):
        single = fit_bt(table.with_cells(w[r]))
        np.testing.assert_allclose(boot.theta[r], single.theta, atol=1e-7)


def test_ties_drop_and_totals():
    a = np.array([0, 0, 1, 1, 2, 0])
    b = np.array([1, 2, 2, 0, 0, 1])
    out = np.array([0, 2, 0, 0, 0, 2])
    table = count_pairwise(a, b, out)
    tot = item_totals(table)
    np.testing.assert_array_equal(tot.battles, [5, 4, 3])
    np.testing.assert_array_equal(tot.wins + tot.losses + tot.ties, tot.battles)
    fit = fit_bt(table, ties="drop")
    assert fit.ties == "drop" and np.isfinite(fit.theta).all()


def test_bad_inputs():
    with pytest.raises(DataProblemError, match="at least two items"):
        fit_bt(count_pairwise([], [], [], n_items=1))
    with pytest.raises(DataProblemError, match="no comparisons"):
        fit_bt(count_pairwise([], [], [], n_items=3))
    with pytest.raises(ValidationError, match="NaN"):
        count_pairwise([0, 1], [1, 0], [0, 0], weight=[1.0, np.nan])
    with pytest.raises(ValidationError, match="negative"):
        count_pairwise([0, 1], [1, 0], [0, 0], weight=[1.0, -1.0])
    with pytest.raises(ValidationError, match="itself"):
        count_pairwise([0, 1], [0, 0], [0, 0])
    with pytest.raises(ValidationError, match="outcome"):
        count_pairwise([0], [1], [7])
    with pytest.raises(ValidationError, match="ties"):
        fit_bt(count_pairwise([0, 1], [1, 0], [0, 0]), ties="davidson")
    # all ties: the half convention gives equal ratings, dropping them leaves nothing
    all_ties = count_pairwise([0, 1, 2], [1, 2, 0], [2, 2, 2])
    np.testing.assert_allclose(fit_bt(all_ties).theta, 0, atol=1e-12)
    with pytest.raises(DataProblemError):
        fit_bt(all_ties, ties="drop")


def test_divergence_is_detected_and_named():
    names = ["alpha", "beta", "gamma", "delta"]
    # alpha never loses; gamma/delta form a separate component
    a = np.array([0, 0, 1, 2, 3])
    b = np.array([1, 1, 0, 3, 2])
    out = np.array([0, 0, 1, 0, 0])
    table = count_pairwise(a, b, out, names=names)
    with pytest.raises(DataProblemError) as err:
        fit_bt(table)
    msg = str(err.value)
    assert "alpha" in msg and "2 disconnected components" in msg and "prior" in msg
    fit = fit_bt(table, prior=1.0)
    assert np.isfinite(fit.theta).all() and fit.theta[0] > fit.theta[1]
    with pytest.raises(ValidationError, match="prior"):
        fit_bt(table, prior=-1.0)
