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
