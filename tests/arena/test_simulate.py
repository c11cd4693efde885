"""The simulator: vote laws against their closed forms, truth recovered, metrics, policies compared."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from prefkit.errors import ValidationError
from prefkit.ranking.arena.compare import compare_policies, plot_convergence
from prefkit.ranking.arena.matchmaking import (
    InfoGainPolicy,
    KSortPolicy,
    RandomPolicy,
    SkillState,
    make_policy,
)
from prefkit.ranking.arena.simulate import Truth, draw_vote, kendall_tau, make_truth, run_policy


def test_pl_votes_follow_plackett_luce_probabilities():
    theta = np.array([1.0, 0.0, -0.5])
    truth = Truth(theta, "pl")
    rng = np.random.default_rng(0)
    n = 30000
    counts: dict[tuple[int, ...], int] = {}
    for _ in range(n):
        r = draw_vote(truth, np.arange(3), "rank", rng)
        key = tuple(np.argsort(r))
        counts[key] = counts.get(key, 0) + 1
    w = np.exp(theta)
    for perm in itertools.permutations(range(3)):
        a, b, c = perm
        p = w[a] / w.sum() * w[b] / (w[b] + w[c])
        se = math.sqrt(p * (1 - p) / n)
        assert abs(counts.get(perm, 0) / n - p) < 5 * se


def test_thurstone_pairs_follow_normal_cdf_and_best_mode():
    from scipy.stats import norm

    truth = Truth(np.array([0.5, 0.0]), "thurstone")
    rng = np.random.default_rng(1)
    wins = sum(draw_vote(truth, np.arange(2), "best", rng)[0] == 0 for _ in range(20000))
    p = norm.cdf(0.5 / math.sqrt(2))
    assert abs(wins / 20000 - p) < 5 * math.sqrt(p * (1 - p) / 20000)


def test_exact_truth_flips_with_probability_noise():
    truth = Truth(np.array([2.0, 1.0]), "exact", noise=0.2)
    rng = np.random.default_rng(2)
    flips = sum(draw_vote(truth, np.arange(2), "rank", rng)[0] == 1 for _ in range(20000))
    assert abs(flips / 20000 - 0.2) < 5 * math.sqrt(0.16 / 20000)
    clean = Truth(np.array([0.0, 3.0, 1.0, 2.0]), "exact")
    np.testing.assert_array_equal(draw_vote(clean, np.arange(4), "rank", rng), [3, 0, 2, 1])
    np.testing.assert_array_equal(draw_vote(clean, np.arange(4), "best", rng), [1, 0, 1, 1])


def test_ties_and_position_bias():
    rng = np.random.default_rng(3)
    tied = Truth(np.zeros(3), "pl", tie_margin=100.0)
    np.testing.assert_array_equal(draw_vote(tied, np.arange(3), "rank", rng), [0, 0, 0])
    biased = Truth(np.zeros(2), "exact", position_bias=1.0)
    firsts = [int(np.argmin(draw_vote(biased, np.arange(2), "rank", rng))) for _ in range(400)]
    assert 100 < sum(firsts) < 300  # the shown-first item is random, so both win sometimes


def test_kendall_tau_matches_scipy():
    from scipy.stats import kendalltau

    rng = np.random.default_rng(4)
    theta, est = rng.normal(size=20), rng.normal(size=20)
    iu = np.triu_indices(20, 1)
    ours = kendall_tau(est, np.sign(theta[iu[0]] - theta[iu[1]]), iu)
    assert ours == pytest.approx(kendalltau(est, theta).statistic)


def test_make_truth_validates():
    rng = np.random.default_rng(0)
    t = make_truth(10, "exact", rng=rng)
    np.testing.assert_array_equal(np.sort(t.theta), np.arange(10))
    for kw, msg in [
        (dict(kind="nope"), "unknown truth"),
        (dict(noise=2.0), "probability"),
        (dict(sd=0.0), "sd"),
    ]:
        with pytest.raises(ValidationError, match=msg):
            make_truth(10, rng=rng, **{"kind": "pl", **kw})
    with pytest.raises(ValidationError, match="at least 2"):
        make_truth(1, rng=rng)


@pytest.mark.parametrize("policy", ["infogain", "ksort", "random-elo"])
def test_noise_free_truth_recovered(policy):
    truth = make_truth(10, "exact", rng=np.random.default_rng(5))
    res = run_policy(policy, truth, k=4, seed=0, horizon=4000)
    assert np.isfinite(res.votes_to_tau90) and np.isfinite(res.votes_to_exact)
    assert res.tau[-1] == 1.0
    assert res.votes_to_tau90 <= res.votes_to_exact


def test_run_policy_validates():
    truth = make_truth(5, "pl", rng=np.random.default_rng(0))
    with pytest.raises(ValidationError, match="k must be"):
        run_policy("infogain", truth, k=6)
    with pytest.raises(ValidationError, match="vote mode"):
        run_policy("infogain", truth, mode="worst")
    with pytest.raises(ValidationError, match="unknown arena policy"):
        run_policy("nope", truth)


def test_policies_pick_distinct_items_and_ksort_rule():
    rng = np.random.default_rng(0)
    st = SkillState.new(12, 25.0, 25 / 3)
    for pol in (RandomPolicy(), KSortPolicy(), InfoGainPolicy(), make_policy("infogain")):
        for k in (2, 4, 12):
            sel = pol.select(st, k, rng)
            assert len(set(sel.tolist())) == k
    # K-Sort: the pivot is the least-compared item; with every pair met, opponents are the closest scores
    st.games[:] = 5
    st.games[3] = 1
    st.pair_counts[:] = 1
    st.n_votes = 10
    st.mu[:] = np.arange(12) * 10.0
    sel = KSortPolicy().select(st, 3, rng)
    assert sel[0] == 3 and set(sel[1:].tolist()) == {2, 4}
    st.pair_counts[3, 11] = 0  # a pair never compared has an infinite bonus
    assert 11 in KSortPolicy().select(st, 2, rng)
    with pytest.raises(ValidationError, match="unknown matchmaking policy"):
        make_policy("nope")


def test_min_votes_replays_the_same_run_further():
    """A run is deterministic per seed: continuing it to ``min_votes`` repeats it vote for vote."""
    truth = make_truth(8, "pl", rng=np.random.default_rng(3))
    short = run_policy("infogain", truth, k=3, seed=4, horizon=3000)
    long = run_policy("infogain", truth, k=3, seed=4, horizon=3000, min_votes=short.tau.size + 500)
    assert long.tau.size == short.tau.size + 500
    np.testing.assert_array_equal(long.tau[: short.tau.size], short.tau)
    assert (long.votes_to_tau90, long.votes_to_top1) == (short.votes_to_tau90, short.votes_to_top1)
    assert run_policy("infogain", truth, k=3, seed=4, horizon=100, min_votes=10**6).tau.size == 100
    with pytest.raises(ValidationError, match="min_votes"):
        run_policy("infogain", truth, min_votes=-1)


def test_compare_policies_small(tmp_path):
    res = compare_policies(["infogain"], items=10, k=3, truth="exact", seeds=3, horizon=3000)
    names = [p.policy for p in res.policies]
    assert names == ["random-elo", "ksort", "infogain"]
    d = res.to_dict()
    assert d["baseline"] == "random-elo" and d["items"] == 10 and d["best_ratio_vs_baseline"] > 1
    assert all(p["votes_to_exact"] is not None for p in d["policies"])
    # without curves=True the curves stop where the first run stopped (no value is held past a run's end)
    first_stop = min(p.votes_to_tau90 for p in res.policies)
    assert not res.curves_extended and first_stop <= res.curve_horizon
    assert all(p.curve_votes[-1] == res.curve_horizon for p in res.policies)
    steps: list[int] = []
    ext = compare_policies(["infogain"], items=10, k=3, truth="exact", seeds=3, horizon=3000, curves=True,
                           progress=steps.append)  # fmt: skip
    assert sum(steps) == 2 * 3 * 3  # two passes over 3 policies x 3 seeds
    slowest = max(p.votes_to_tau90 for p in ext.policies)
    assert ext.curves_extended and ext.curve_horizon == min(3000, np.ceil(1.5 * slowest))
    for p, q in zip(res.policies, ext.policies, strict=True):
        assert p.votes_to_tau90 == q.votes_to_tau90 and p.votes_to_top1 == q.votes_to_top1
        assert p.tau90_band == q.tau90_band
        assert q.curve_votes[-1] == ext.curve_horizon
        assert np.all(q.curve_band[0] <= q.curve_tau) and np.all(q.curve_tau <= q.curve_band[1])
    # the fast policy keeps improving after its runs would have stopped: its curve is not frozen at 0.9
    assert ext.policies[-1].curve_tau[-1] == 1.0
    pytest.importorskip("matplotlib")
    out = tmp_path / "curves.png"
    plot_convergence(ext, str(out))
    assert out.stat().st_size > 1000
    with pytest.raises(ValidationError, match="seeds"):
        compare_policies(["infogain"], seeds=0)


def test_compare_policies_when_no_run_converges(tmp_path):
    """Censored runs: medians and bands are +inf (no nan, no warning) and the plot still draws."""
    res = compare_policies(["infogain"], items=4, k=2, truth="exact", seeds=2, horizon=1, curves=True)
    assert all(p.votes_to_tau90 == np.inf and p.tau90_band == (np.inf, np.inf) for p in res.policies)
    assert res.curve_horizon == 1 and res.to_dict()["policies"][0]["tau90_band"] == [None, None]
    pytest.importorskip("matplotlib")
    plot_convergence(res, str(tmp_path / "c.png"))
