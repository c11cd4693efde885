"""Intervals on ratings and ranks: sandwich (normal) and bootstrap percentiles, rank intervals, displayed rank."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from prefkit.errors import ValidationError


def check_level(level: float) -> float:
    if not (0.0 < level < 1.0):
        raise ValidationError(f"level must be between 0 and 1 (e.g. 0.95), got {level}")
    return float(level)


def normal_intervals(
    estimate: np.ndarray, se: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """``estimate -/+ z * se`` with ``z`` the two-sided normal quantile of ``level``."""
    z = float(norm.ppf(0.5 + check_level(level) / 2.0))
    return estimate - z * se, estimate + z * se


def percentile_intervals(samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Per-column percentile interval of ``samples`` ``(rounds, n)``.

    The tail quantiles are the approximately median-unbiased ones (Hyndman and Fan's type 8): numpy's default
    linear interpolation pulls the 5% / 95% points of a few hundred rounds towards the middle, which cost about
    one point of coverage at 200 rounds (0.89 for a nominal 0.90 in the 5-item simulation of
    ``tests/ranking/test_leaderboard.py``; 0.90 with type 8, as with 1,000 rounds). With thousands of rounds
    the two agree.

    What remains is a genuine small-sample property of the percentile method: the maximum-likelihood strengths
    are biased away from zero by O(1 / battles per pair) and the percentile interval, centred on the bootstrap
    distribution, carries that bias twice: with 15 battles per pair (5 items) the 90% interval covers 0.889 where
    the sandwich covers 0.898; at 60 battles per pair the two agree (0.90). Use the sandwich interval when
    pairs have few battles.
    """
    a = (1.0 - check_level(level)) / 2.0
    lo, hi = np.quantile(samples, [a, 1.0 - a], axis=0, method="median_unbiased")
    return lo, hi


def ranks_of(values: np.ndarray) -> np.ndarray:
    """Competition ranks (1 = best) along the last axis: 1 + the number of strictly larger values."""
    v = np.asarray(values)
    return 1 + (v[..., None, :] > v[..., :, None]).sum(axis=-1)


def rank_intervals_bootstrap(samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile intervals of each item's rank over bootstrap rounds (best rank, worst rank)."""
    lo, hi = percentile_intervals(ranks_of(samples).astype(np.float64), level)
    return np.floor(lo).astype(np.int64), np.ceil(hi).astype(np.int64)


def displayed_rank(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """LMArena's displayed rank: 1 + the number of items whose lower bound is above this item's upper bound."""
    lower, upper = np.asarray(lower), np.asarray(upper)
    return 1 + (lower[None, :] > upper[:, None]).sum(axis=1)


def rank_intervals_from_bounds(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best rank = displayed rank; worst rank = n - the number of items whose upper bound is below our lower."""
    lower, upper = np.asarray(lower), np.asarray(upper)
    worst = len(lower) - (upper[None, :] < lower[:, None]).sum(axis=1)
    return displayed_rank(lower, upper), worst
