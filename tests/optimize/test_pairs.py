"""Pair builders: checked against prefkit's ranking_to_pairs converter, pandas, and the Curry-DPO paper's
stage layout; bad input (ties only, single responses, NaN scores)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prefkit.data.convert import ranking_to_pairs
from prefkit.data.model import OUTCOME_A, RankingTable
from prefkit.errors import ValidationError
from prefkit.optimize import pairs as P
from prefkit.optimize.groups import ScoredGroups, from_rankings


def _random_rankings(rng, n=300):
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 7))
        items = rng.permutation(50)[:k].tolist()
        groups, i = [], 0
        while i < k:
            w = int(rng.integers(1, 3))
            groups.append(items[i : i + w])
            i += w
        out.append(groups)
    return RankingTable.from_lists(out, context=np.arange(n))


def test_all_pairs_match_the_ranking_converter():
    rk = _random_rankings(np.random.default_rng(0))
    g = from_rankings(rk)
    p = P.all_pairs(g)
    conv = ranking_to_pairs(rk)
    strict = conv.outcome == OUTCOME_A
    ours = sorted(
        zip(g.context[p.group].tolist(), g.item[p.chosen].tolist(), g.item[p.rejected].tolist(), strict=True)
    )
    theirs = sorted(
        zip(conv.context[strict].tolist(), conv.a[strict].tolist(), conv.b[strict].tolist(), strict=True)
    )
    assert ours == theirs
    assert (p.gap > 0).all()


def test_best_vs_worst_matches_pandas():
    rng = np.random.default_rng(1)
    scores = [rng.integers(0, 5, size=int(rng.integers(2, 6))).astype(float).tolist() for _ in range(400)]
    g = ScoredGroups.from_lists(scores)
    p = P.best_vs_worst(g, min_gap=1.0)
    df = pd.DataFrame({"group": g.group_of, "score": g.score, "member": np.arange(len(g.score))})
    agg = df.groupby("group").score.agg(["max", "min"])
    expected = agg[(agg["max"] - agg["min"]) > 1.0]
    assert p.group.tolist() == expected.index.tolist()
    np.testing.assert_array_equal(g.score[p.chosen], expected["max"].to_numpy())
    np.testing.assert_array_equal(g.score[p.rejected], expected["min"].to_numpy())
    np.testing.assert_array_equal(p.gap, (expected["max"] - expected["min"]).to_numpy())


def test_curry_stages_follow_the_paper():
    # 4 responses rated 5, 4, 2, 1: (best, 1) is the easiest (stage 0), then (best, 2), then (best, 4)
    g = ScoredGroups.from_lists([[5.0, 4.0, 2.0, 1.0], [3.0, 1.0]])
    p = P.curriculum(g)
    got = sorted(
        zip(p.group.tolist(), g.score[p.rejected].tolist(), p.stage.tolist(), p.gap.tolist(), strict=True)
    )
    assert got == [(0, 1.0, 0, 4.0), (0, 2.0, 1, 3.0), (0, 4.0, 2, 1.0), (1, 1.0, 0, 2.0)]
    order = P.stage_order(p)
    assert p.stage[order].tolist() == [0, 0, 1, 2]


def test_best_vs_each_and_ties_are_explicit():
    g = ScoredGroups.from_lists([[2.0, 2.0, 1.0], [1.0, 1.0], [7.0]])
    p = P.best_vs_each(g)
    assert g.score[p.rejected].tolist() == [1.0]  # the tied co-best is not a pair
    assert (p.skipped_single, p.skipped_ties, p.first_skipped_line) == (1, 1, 2)
    assert len(P.all_pairs(g)) == 2


def test_nan_scores_are_refused():
    with pytest.raises(ValidationError, match="NaN score in the group from line 2"):
        ScoredGroups.from_lists([[1.0, 0.0], [np.nan, 1.0]])
    with pytest.raises(ValidationError, match="min_gap"):
        P.all_pairs(ScoredGroups.from_lists([[1.0, 0.0]]), min_gap=-1)
