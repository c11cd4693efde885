"""Intervals and the leaderboard: coverage over repeated simulations, displayed rank, anchors, evalica golden."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefkit.errors import DataProblemError, ValidationError
from prefkit.ranking import intervals as iv
from prefkit.ranking.counts import count_pairwise
from prefkit.ranking.leaderboard import Battles, Rankings, RatingModel, build_leaderboard
from prefkit.ranking.scale import EloScale, parse_anchor


def test_sandwich_and_bootstrap_coverage_close_to_nominal(sim):
    """Over 300 simulated logs the 90% intervals of every item cover the truth 90% of the time.

    1,500 item-intervals; across simulation seeds the coverage estimates vary by about 0.005 (the 5 items of a
    log are correlated), so +-0.025 is a 5-sigma band (measured over 8 seeds: 0.887-0.904 sandwich,
    0.885-0.902 bootstrap). Both interval kinds are computed on the same logs, so their difference and their
    width ratio are much more precise than either coverage (measured: difference within 0.005, bootstrap
    intervals 1.5% wider).
    """
    rng = np.random.default_rng(21)
    theta = np.array([0.8, 0.3, 0.0, -0.4, -0.7])
    theta -= theta.mean()
    truth = EloScale().to_rating(theta)
    hits_s, hits_b, width_s, width_b = [], [], [], []
    for rep in range(300):
        a, b, out = sim(theta, 600, rng)
        table = count_pairwise(a, b, out, n_items=5)
        lb = build_leaderboard(table, ci="sandwich", level=0.9)
        lbb = build_leaderboard(table, ci="bootstrap", rounds=200, level=0.9, seed=rep)
        hits_s.append((lb.lower <= truth) & (truth <= lb.upper))
        hits_b.append((lbb.lower <= truth) & (truth <= lbb.upper))
        width_s.append(lb.upper - lb.lower)
        width_b.append(lbb.upper - lbb.lower)
    cov_s, cov_b = np.mean(hits_s), np.mean(hits_b)
    assert 0.875 <= cov_s <= 0.925, cov_s
    assert 0.875 <= cov_b <= 0.925, cov_b
    assert abs(cov_b - cov_s) <= 0.015, (cov_b, cov_s)
    assert 0.98 <= np.mean(width_b) / np.mean(width_s) <= 1.05


def test_percentile_endpoints_are_median_unbiased_with_few_rounds():
    """With 200 rounds the 5% / 95% endpoints fall on either side of the true normal quantiles equally often
    (numpy's default linear interpolation lands inside them 58% of the time, narrowing the interval)."""
    from scipy.stats import norm

    samples = np.random.default_rng(0).standard_normal((200, 4000))
    lo, hi = iv.percentile_intervals(samples, 0.9)
    q = norm.ppf(0.95)
    assert 0.46 <= np.mean(lo <= -q) <= 0.54
    assert 0.46 <= np.mean(hi >= q) <= 0.54


def test_displayed_rank_and_rank_intervals():
    lower = np.array([10.0, 8.0, 0.0, -5.0])
    upper = np.array([12.0, 11.0, 9.0, -1.0])
    np.testing.assert_array_equal(iv.displayed_rank(lower, upper), [1, 1, 2, 4])
    best, worst = iv.rank_intervals_from_bounds(lower, upper)
    np.testing.assert_array_equal(best, [1, 1, 2, 4])
    np.testing.assert_array_equal(worst, [2, 3, 3, 4])
    samples = np.array([[3.0, 2.0, 1.0], [2.0, 3.0, 1.0]])
    np.testing.assert_array_equal(iv.ranks_of(samples), [[1, 2, 3], [2, 1, 3]])


def test_leaderboard_scale_anchor_and_rows(sim):
    rng = np.random.default_rng(22)
    a, b, out = sim(np.array([1.0, 0.0, -1.0]), 3000, rng)
    battles = Battles(a, b, out, ("x", "y", "z"))
    lb = build_leaderboard(battles)
    assert abs(lb.rating.mean() - 1000) < 1e-9
    anchored = build_leaderboard(battles, anchor=("y", 1200.0))
    assert anchored.rating[1] == pytest.approx(1200.0)
    np.testing.assert_allclose(anchored.rating - lb.rating, 1200.0 - lb.rating[1])
    raw = build_leaderboard(battles, scale=EloScale(raw=True))
    np.testing.assert_allclose(raw.rating * 400 / math.log(10) + 1000, lb.rating)
    rows = lb.rows()
    assert [r.name for r in rows] == ["x", "y", "z"] and rows[0].rank == 1
    d = lb.to_dict()
    assert d["method"] == "bt" and set(d["leaderboard"][0]) >= {
        "name",
        "rating",
        "lower",
        "upper",
        "rank",
        "battles",
        "wins",
        "losses",
        "ties",
    }
    np.testing.assert_allclose(np.diag(lb.win_probability), 0.5)
    np.testing.assert_allclose(lb.win_probability + lb.win_probability.T, 1.0)
    model = RatingModel(method="elo", rounds=10).fit(battles)
    assert model.leaderboard_.ci == "bootstrap" and len(model.ratings_) == 3


def test_leaderboard_bad_inputs(sim):
    rng = np.random.default_rng(23)
    a, b, out = sim(np.array([1.0, 0.0, -1.0]), 300, rng)
    battles = Battles(a, b, out, ("x", "y", "z"))
    with pytest.raises(ValidationError, match="not in the data"):
        build_leaderboard(battles, anchor=("nobody", 1000.0))
    with pytest.raises(ValidationError, match="NAME=RATING"):
        parse_anchor("gpt4")
    with pytest.raises(ValidationError, match="number"):
        parse_anchor("gpt4=high")
    with pytest.raises(ValidationError, match="method"):
        build_leaderboard(battles, method="trueskill")
    with pytest.raises(ValidationError, match="sandwich"):
        build_leaderboard(battles, method="elo", ci="sandwich")
    with pytest.raises(ValidationError, match="level"):
        build_leaderboard(battles, level=1.5)
    with pytest.raises(DataProblemError, match="two items"):
        build_leaderboard(Battles(np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), ("solo",)))


def test_evalica_golden_scores(shared_data):
    """evalica's golden scores on llmfao: its Bradley-Terry (ties half), Newman (= Davidson with nu = 2v) and
    Elo (k=4), with left/right/tie mapped as in evalica's conftest."""
    df = pd.read_csv(shared_data / "llmfao" / "crowd-comparisons.csv", dtype=str)
    golden = pd.read_csv(shared_data / "llmfao" / "evalica-llmfao-golden.csv")
    from prefkit.data.index import ItemIndex
    from prefkit.ranking.bt import fit_bt
    from prefkit.ranking.elo import elo_pairwise
    from prefkit.ranking.ties import fit_davidson

    idx = ItemIndex()
    a, b = idx.encode(df["left"].to_numpy()), idx.encode(df["right"].to_numpy())
    out = df["winner"].map({"left": 0, "right": 1, "tie": 2}).to_numpy()
    table = count_pairwise(a, b, out, names=idx.names)

    def gold(alg):
        return golden[golden.algorithm == alg].set_index("item").score.reindex(idx.names).to_numpy()

    for alg, fit in (("bradley_terry", fit_bt(table)), ("newman", fit_davidson(table))):
        ref = np.log(gold(alg))
        np.testing.assert_allclose(fit.theta, ref - ref.mean(), atol=1e-6)
    np.testing.assert_allclose(elo_pairwise(a, b, out, len(idx), k=4.0), gold("elo"), atol=1e-6)


def test_rankings_to_implied_pairs():
    from prefkit.ranking.leaderboard import Rankings, rankings_to_pairs

    rk = Rankings(np.array([0, 3, 5]), np.array([2, 0, 1, 1, 2]), np.array([0, 1, 1, 0, 1]), ("x", "y", "z"))
    pairs = rankings_to_pairs(rk)
    got = sorted(zip(pairs.a.tolist(), pairs.b.tolist(), pairs.outcome.tolist(), strict=True))
    assert got == [(0, 1, 2), (1, 2, 0), (2, 0, 0), (2, 1, 0)]
    lb = build_leaderboard(rk, method="bt", prior=1.0)
    assert lb.rating[2] == max(lb.rating)


@settings(max_examples=40, deadline=None)
@given(
    spec=st.lists(
        st.lists(
            st.tuples(st.integers(0, 5), st.integers(0, 2)), min_size=1, max_size=5, unique_by=lambda t: t[0]
        ),
        min_size=1,
        max_size=6,
    )
)
def test_ranking_totals_match_brute_force(spec: list) -> None:
    """Wins, losses and ties implied by rankings (unsorted levels), counted pair by pair."""
    import itertools

    from prefkit.ranking.leaderboard_data import ranking_totals

    offsets = np.concatenate([[0], np.cumsum([len(r) for r in spec])])
    members = np.array([m for r in spec for m, _ in r])
    level = np.array([lv for r in spec for _, lv in r])
    tot = ranking_totals(Rankings(offsets, members, level, tuple("abcdef")))
    wins, losses, ties, seen = np.zeros(6), np.zeros(6), np.zeros(6), np.zeros(6)
    for r in spec:
        for m, _ in r:
            seen[m] += 1
        for (m1, l1), (m2, l2) in itertools.combinations(r, 2):
            if l1 == l2:
                ties[[m1, m2]] += 1
            else:
                w, lo = (m1, m2) if l1 < l2 else (m2, m1)
                wins[w] += 1
                losses[lo] += 1
    np.testing.assert_array_equal(tot.wins, wins)
    np.testing.assert_array_equal(tot.losses, losses)
    np.testing.assert_array_equal(tot.ties, ties)
    np.testing.assert_array_equal(tot.battles, seen)
