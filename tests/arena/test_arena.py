"""The Arena object: votes, validation, determinism, save/restore, concurrency, new items, relative ranking."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefkit.errors import DataProblemError, ValidationError
from prefkit.ranking.arena.engine import Arena, Match, SkillTable, Vote
from prefkit.ranking.arena.relative import rank_with_judge
from prefkit.ranking.arena.skills import SkillParams, weng_lin_tm

NAMES = [f"model{i}" for i in range(8)]
TRUE_ORDER = {name: i for i, name in enumerate(NAMES)}  # model0 is best


def _rank(items):
    return sorted(items, key=TRUE_ORDER.__getitem__)


def _drive(arena: Arena, n: int) -> None:
    for _ in range(n):
        m = arena.next_match()
        arena.record(Vote(m.items, ranking=_rank(m.items), match_id=m.match_id))


def test_match_and_vote_update_beliefs_like_the_update_rule():
    arena = Arena(NAMES, k=4, seed=3)
    m = arena.next_match()
    assert isinstance(m, Match) and len(m.items) == 4 and len(set(m.items)) == 4
    arena.record(
        Vote(m.items, ranking=[[m.items[2]], [m.items[0], m.items[3]], [m.items[1]]], match_id=m.match_id)
    )
    mu, sigma = weng_lin_tm([25.0] * 4, [25 / 3] * 4, [1, 2, 0, 1])  # the default policy's update
    board = {r.item: r for r in arena.skill_table().rows}
    for item, exp_mu, exp_sigma in zip(m.items, mu, sigma, strict=True):
        assert board[item].mu == pytest.approx(exp_mu) and board[item].sigma == pytest.approx(exp_sigma)
        assert board[item].score == pytest.approx(exp_mu - 3 * exp_sigma)


def test_noise_free_votes_recover_the_order():
    arena = Arena(NAMES, k=4, seed=0)
    _drive(arena, 60)
    board = arena.skill_table()
    assert isinstance(board, SkillTable) and board.n_votes == 60
    from scipy.stats import kendalltau

    by_mu = [r.item for r in sorted(board.rows, key=lambda r: -r.mu)]
    assert by_mu[0] == "model0"
    assert kendalltau([TRUE_ORDER[x] for x in by_mu], range(8)).statistic >= 0.85


def test_best_vote_and_pairs():
    arena = Arena(NAMES, k=2, seed=1)
    for _ in range(40):
        m = arena.next_match()
        arena.record(Vote(m.items, winner=_rank(m.items)[0]))
    assert arena.skill_table().rows[0].item == "model0"


def test_deterministic_under_seed():
    a, b = Arena(NAMES, seed=5), Arena(NAMES, seed=5)
    _drive(a, 20)
    _drive(b, 20)
    assert a.to_json() == b.to_json()
    assert a.next_match() == b.next_match()


def test_state_round_trip_is_exact():
    a = Arena(NAMES, k=3, seed=9, policy="ksort")
    _drive(a, 15)
    pending = a.next_match()
    b = Arena.from_json(a.to_json())
    assert b.state_dict() == json.loads(a.to_json())
    assert b.skill_table() == a.skill_table()
    b.record(
        Vote(pending.items, winner=pending.items[0], match_id=pending.match_id)
    )  # pending match survives
    a.record(Vote(pending.items, winner=pending.items[0], match_id=pending.match_id))
    for _ in range(5):
        assert a.next_match() == b.next_match()
    assert a.to_json() == b.to_json()


@pytest.mark.parametrize("policy", ["infogain", "ksort", "ksort-pl", "random", "random-elo"])
def test_every_policy_round_trips(policy):
    a = Arena(NAMES, policy=policy, seed=2)
    _drive(a, 5)
    b = Arena.from_state(a.state_dict())
    assert a.next_match() == b.next_match()


def test_bad_votes_rejected_and_state_unchanged():
    arena = Arena(NAMES, k=4, seed=0)
    m = arena.next_match()
    before = arena.to_json()
    bad = [
        (Vote(m.items, winner="nobody", match_id=m.match_id), "not one of the match items"),
        (Vote((*m.items[:3], m.items[0]), winner=m.items[0]), "repeat"),
        (Vote(m.items[:1], winner=m.items[0]), "must cover 2..4"),
        (Vote(tuple(NAMES[:6]), winner="model0"), "must cover"),
        (Vote(("model0", "ghost"), winner="model0"), "unknown item"),
        (Vote(m.items, ranking=list(m.items[:3]), match_id=m.match_id), "exactly once"),
        (Vote(m.items), "exactly one of winner"),
        (Vote(m.items, winner=m.items[0], ranking=list(m.items)), "exactly one of winner"),
        (Vote(m.items, winner=m.items[0], match_id="m999"), "unknown or already voted"),
    ]
    other = [x for x in NAMES if x not in m.items][:4]
    bad.append((Vote(tuple(other), winner=other[0], match_id=m.match_id), "not the items of match"))
    for vote, msg in bad:
        with pytest.raises(ValidationError, match=msg):
            arena.record(vote)
    assert arena.to_json() == before
    arena.record(Vote(m.items, winner=m.items[0], match_id=m.match_id))
    with pytest.raises(ValidationError, match="already voted"):
        arena.record(Vote(m.items, winner=m.items[0], match_id=m.match_id))


def test_bad_configuration():
    with pytest.raises(ValidationError, match="unknown arena policy"):
        Arena(NAMES, policy="nope")
    with pytest.raises(ValidationError, match="unknown skill model"):
        Arena(NAMES, model="glicko")
    with pytest.raises(ValidationError, match="k_min"):
        Arena(NAMES, k=1)
    arena = Arena(NAMES, k=4)
    with pytest.raises(ValidationError, match="outside the allowed range"):
        arena.next_match(k=5)
    with pytest.raises(DataProblemError, match="add items"):
        Arena(["a", "b"], k=2, k_max=4).next_match(k=3)
    with pytest.raises(ValidationError, match="already in the arena"):
        arena.add_item("model0")
    with pytest.raises(ValidationError, match="not a valid arena state"):
        Arena.from_state({"version": 1})


def test_new_item_catches_up():
    arena = Arena(NAMES[1:], k=4, seed=4)
    _drive(arena, 40)
    arena.add_item("model0")  # a new best model arrives
    assert "model0" in arena.next_match().items
    for _ in range(15):  # about 5 votes suffice (seeds 0-4)
        m = arena.next_match()
        arena.record(Vote(m.items, ranking=_rank(m.items), match_id=m.match_id))
    by_mu = sorted(arena.skill_table().rows, key=lambda r: -r.mu)
    assert by_mu[0].item == "model0"


def test_concurrent_requests():
    arena = Arena([f"x{i}" for i in range(30)], k=4, seed=0)
    errors: list[BaseException] = []

    def worker():
        try:
            for _ in range(50):
                m = arena.next_match()
                arena.record(Vote(m.items, winner=m.items[0], match_id=m.match_id))
        except BaseException as exc:  # pragma: no cover - the test fails on it
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    board = arena.skill_table()
    assert board.n_votes == 200 and sum(r.games for r in board.rows) == 800


def test_published_table_refits_votes_with_batch_pl():
    arena = Arena(NAMES, k=4, seed=0, params=SkillParams(tau=0.0, gamma=1.0))
    rng = np.random.default_rng(0)
    for _ in range(150):  # noisy votes so the batch MLE exists
        m = arena.next_match()
        order = sorted(m.items, key=lambda x: TRUE_ORDER[x] + rng.normal(0, 2))
        arena.record(Vote(m.items, ranking=order, match_id=m.match_id))
    table = arena.published_table()
    names = list(table.names)
    theta = np.asarray(table.rating)
    assert names[int(np.argmax(theta))] in ("model0", "model1")
    with pytest.raises(DataProblemError, match="no votes"):
        Arena(NAMES).published_table()


def test_rank_with_judge_pairwise_and_kwise():
    truth = {f"q{i}": float(i) for i in range(10)}  # q9 most confident

    def pair_judge(items):
        return max(items, key=truth.__getitem__)

    def kwise_judge(items):
        return sorted(items, key=lambda x: -truth[x])

    for judge, k in ((pair_judge, 2), (kwise_judge, 3)):
        board = rank_with_judge(list(truth), judge, budget=60, k=k, seed=1)
        top = sorted(board.rows, key=lambda r: -r.mu)
        assert top[0].item == "q9" and board.n_votes == 60
    with pytest.raises(ValidationError, match="budget"):
        rank_with_judge(list(truth), pair_judge, budget=0)


def test_skill_rows_give_the_normal_credible_interval() -> None:
    arena = Arena(["a", "b", "c"], k=2, seed=0)
    for _ in range(10):
        m = arena.next_match()
        arena.record(Vote(m.items, winner=m.items[0], match_id=m.match_id))
    for row in arena.skill_table().rows:
        lo, hi = row.interval(0.95)
        assert lo == pytest.approx(row.mu - 1.959963984540054 * row.sigma)  # the 97.5% normal quantile
        assert hi == pytest.approx(row.mu + 1.959963984540054 * row.sigma)
    with pytest.raises(ValidationError):
        arena.skill_table().rows[0].interval(1.5)


@settings(max_examples=50, deadline=None)
@given(
    votes=st.lists(
        st.integers(1, 5).flatmap(
            lambda k: st.tuples(
                st.permutations(range(6)).map(lambda p: list(p[:k])),
                st.lists(st.integers(0, k - 1), min_size=k, max_size=k),
            )
        ),
        max_size=6,
    )
)
def test_coded_votes_become_sorted_rankings_with_dense_levels(votes: list) -> None:
    from prefkit.ranking.arena.refit import coded_votes_to_rankings

    rk = coded_votes_to_rankings([v[0] for v in votes], [v[1] for v in votes], tuple("abcdef"))
    assert rk.offsets.tolist() == [0, *np.cumsum([len(v[0]) for v in votes]).tolist()]
    for r, (items, ranks) in enumerate(votes):
        lo, hi = rk.offsets[r], rk.offsets[r + 1]
        by_rank = sorted(range(len(items)), key=lambda i: (ranks[i], i))  # best first, shown order among ties
        distinct = sorted(set(ranks))
        assert rk.members[lo:hi].tolist() == [items[i] for i in by_rank]
        assert rk.level[lo:hi].tolist() == [distinct.index(ranks[i]) for i in by_rank]


def test_coded_votes_refuse_bad_input() -> None:
    from prefkit.ranking.arena.refit import coded_votes_to_rankings

    with pytest.raises(ValidationError, match="one rank list per vote"):
        coded_votes_to_rankings([[0, 1]], [], ("a", "b"))
    with pytest.raises(ValidationError, match="one rank per item"):
        coded_votes_to_rankings([[0, 1]], [[0]], ("a", "b"))
    with pytest.raises(ValidationError, match="codes must lie in 0..1"):
        coded_votes_to_rankings([[0, 2]], [[0, 1]], ("a", "b"))
