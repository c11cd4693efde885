"""Stuffing rules counted by hand: discards over the share, selective voting, and honest voters left alone."""

from __future__ import annotations

import numpy as np

from prefkit.analysis.vote_hygiene import stuffing_reason


def test_too_few_matches_are_never_judged() -> None:
    assert stuffing_reason(3, 0, np.zeros(2, int), np.zeros(2, int), flag_share=0.5, min_deals=10) is None


def test_discarding_over_the_share_is_flagged() -> None:
    reason = stuffing_reason(20, 9, np.zeros(2, int), np.zeros(2, int), flag_share=0.5, min_deals=10)
    assert reason == "discarded 11 of 20 matches (over 50%)"


def test_voting_only_when_one_model_shows_is_flagged() -> None:
    # 20 matches: model 1 shown in 10 (all voted), absent from 10 (3 voted): 100% against 30%
    reason = stuffing_reason(20, 13, np.array([20, 10]), np.array([13, 10]), flag_share=0.5, min_deals=10)
    assert reason == "votes selectively: on 100% of matches showing model #1, 30% of the others"


def test_an_honest_voter_is_not_flagged() -> None:
    # the same 80% vote rate whether or not each model is shown
    dealt_with, voted_with = np.array([10, 10, 10]), np.array([8, 8, 8])
    assert stuffing_reason(15, 12, dealt_with, voted_with, flag_share=0.3, min_deals=10) is None


def _by_hand(dealt, voted, dealt_with, voted_with, flag_share, min_deals):  # type: ignore[no-untyped-def]
    """The rule as its docstring states it, one model at a time, no shortcuts."""
    if dealt < min_deals:
        return None
    if dealt - voted > flag_share * dealt:
        return "discard"
    for m in range(len(dealt_with)):
        without = dealt - dealt_with[m]
        if dealt_with[m] >= 5 and without >= 5:
            if voted_with[m] / dealt_with[m] - (voted - voted_with[m]) / without > flag_share:
                return "selective"
    return None


def test_verdicts_equal_the_rule_applied_model_by_model() -> None:
    """The per-deal shortcut (few discards: nobody can be selective) never changes a verdict."""
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(4000):
        n_models = int(rng.integers(2, 6))
        dealt = int(rng.integers(0, 40))
        shown = rng.random((dealt, n_models)) < 0.5
        p_vote = np.where(rng.random() < 0.5, 0.97, rng.random())
        voted_rows = rng.random(dealt) < np.where(shown[:, 0], 1.0, p_vote)
        dealt_with, voted_with = shown.sum(0), shown[voted_rows].sum(0)
        share = float(rng.choice([0.2, 0.3, 0.5]))
        got = stuffing_reason(dealt, int(voted_rows.sum()), dealt_with, voted_with, flag_share=share, min_deals=10)
        want = _by_hand(dealt, int(voted_rows.sum()), dealt_with, voted_with, share, 10)
        kind = None if got is None else ("discard" if got.startswith("discarded") else "selective")
        assert kind == want
        seen.add(want)
    assert seen == {None, "discard", "selective"}
