"""Factor-level shares (PROFILE-style) against hand counts and statsmodels' Wilson interval."""

from __future__ import annotations

import numpy as np
import pytest

from prefkit.analysis.factors import factor_shares, wilson
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
from prefkit.errors import ValidationError


def test_hand_counts() -> None:
    diffs = np.array([[1.0, 0.0], [2.0, 1.0], [-1.0, 1.0], [3.0, -2.0], [1.0, 1.0]])
    out = np.array([OUTCOME_A, OUTCOME_B, OUTCOME_B, OUTCOME_A, OUTCOME_TIE])
    res = factor_shares(diffs, out, ["len", "fmt"])["all"]
    # len: decisive rows 0-3 all differ; winner has more in rows 0, 2, 3 -> 3/4
    assert (res[0].n, res[0].share) == (4, 0.75)
    # fmt: differs in rows 1-3; the winner has less every time (b won where a had more; a won with less) -> 0/3
    assert (res[1].n, res[1].share) == (3, 0.0)


def test_wilson_matches_statsmodels() -> None:
    sm = pytest.importorskip("statsmodels.stats.proportion")
    for k, n in [(3, 4), (0, 10), (57, 100), (10, 10)]:
        lo, hi = wilson(np.array([k]), np.array([n]), 0.9)
        elo, ehi = sm.proportion_confint(k, n, alpha=0.1, method="wilson")
        assert lo[0] == pytest.approx(elo) and hi[0] == pytest.approx(ehi)


def test_bad_shapes() -> None:
    with pytest.raises(ValidationError):
        factor_shares(np.zeros((3, 2)), np.zeros(2), ["a", "b"])
