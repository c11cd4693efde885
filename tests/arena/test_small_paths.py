"""The scalar paths of the live arena (few items: Python floats instead of numpy) give the numpy results."""

from __future__ import annotations

import numpy as np
import pytest

from prefkit.ranking.arena import matchmaking, skills
from prefkit.ranking.arena.matchmaking import InfoGainPolicy, SkillState


def _pl_numpy(mu, sigma, ranks, beta=25.0 / 6.0, kappa=1e-4, tau=25.0 / 300.0, gamma=None):
    """The general (numpy) update, forced for any size."""
    old = skills._SMALL_K
    skills._SMALL_K = 0
    try:
        return skills.weng_lin_pl(mu, sigma, ranks, beta=beta, kappa=kappa, tau=tau, gamma=gamma)
    finally:
        skills._SMALL_K = old


@pytest.mark.parametrize("seed", range(40))
def test_small_pl_update_equals_the_numpy_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 5))
    mu = rng.normal(25, 10, k)
    sigma = rng.uniform(0.5, 9, k)
    ranks = rng.integers(0, k, k)  # ties included
    gamma = None if seed % 2 else float(rng.uniform(0.01, 1))
    got = skills.weng_lin_pl(mu, sigma, ranks, gamma=gamma)
    want = _pl_numpy(mu, sigma, ranks, gamma=gamma)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("seed", range(30))
def test_small_infogain_picks_what_numpy_picks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 20))
    st = SkillState(
        rng.normal(25, 5, n), rng.uniform(1, 8, n), rng.integers(0, 3, n), np.zeros((n, n), np.int32), 0
    )
    k = int(rng.integers(2, min(n, 5) + 1))
    pol = InfoGainPolicy()
    fast = pol.select(st, k, np.random.default_rng(seed + 100))
    old = matchmaking._SMALL_N
    matchmaking._SMALL_N = 0
    try:
        slow = pol.select(st, k, np.random.default_rng(seed + 100))
    finally:
        matchmaking._SMALL_N = old
    assert fast.tolist() == slow.tolist()


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_counting_a_vote_small_and_large_agree(k: int) -> None:
    rng = np.random.default_rng(k)
    a = SkillState.new(9, 25.0, 8.0)
    b = SkillState.new(9, 25.0, 8.0)
    for _ in range(50):
        items = rng.choice(9, size=k, replace=False)
        a.count(items)
        b.games[items] += 1  # the general rule, written out
        b.pair_counts[np.ix_(items, items)] += 1
        b.pair_counts[items, items] -= 1
    assert a.games.tolist() == b.games.tolist() and a.pair_counts.tolist() == b.pair_counts.tolist()
    assert np.all(np.diag(a.pair_counts) == 0)


@pytest.mark.parametrize("policy", ["infogain", "ksort", "random"])
def test_code_paths_deal_and_update_as_the_named_ones(policy: str) -> None:
    """deal_codes / record_codes (the service's path, no names) make the same draws and the same updates as
    next_match / record with names: two engines fed the same votes stay identical."""
    from prefkit.ranking.arena.engine import Arena, Vote

    names = [f"m{i}" for i in range(7)]
    a, b = Arena(names, k=3, policy=policy, seed=5), Arena(names, k=3, policy=policy, seed=5)
    rng = np.random.default_rng(0)
    for _ in range(60):
        match = a.next_match()
        codes = b.deal_codes().tolist()
        assert [names[c] for c in codes] == list(match.items)
        ranks = rng.integers(0, 3, size=len(codes)).tolist()  # gaps and ties allowed: [0, 2, 2]
        groups = [[names[c] for c, r in zip(codes, ranks, strict=True) if r == lv] for lv in sorted(set(ranks))]
        a.record(Vote(list(match.items), ranking=groups, match_id=match.match_id))
        b.record_codes(codes, ranks)
    ta, tb = a.skill_table(), b.skill_table()
    assert ta.rows == tb.rows and a.n_votes == b.n_votes == 60


@pytest.mark.parametrize(
    ("codes", "ranks", "msg"),
    [([0, 0, 1], [0, 1, 2], "distinct"), ([0, 9, 1], [0, 1, 2], "distinct codes 0..6"), ([0, 1], [0], "one rank"),
     ([0], [0], "cover 2..3")],
)
def test_record_codes_refuses_bad_votes_and_keeps_the_state(codes, ranks, msg) -> None:
    from prefkit.errors import ValidationError
    from prefkit.ranking.arena.engine import Arena

    eng = Arena([f"m{i}" for i in range(7)], k=3)
    before = [(r.mu, r.sigma) for r in eng.skill_table().rows]
    with pytest.raises(ValidationError, match=msg):
        eng.record_codes(codes, ranks)
    assert [(r.mu, r.sigma) for r in eng.skill_table().rows] == before and eng.n_votes == 0
