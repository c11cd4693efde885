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
    """Per-column percentile interval of ``samples`` ``(rounds, n)``."""
    a = (1.0 - check_level(level)) / 2.0
    lo, hi = np.quantile(samples, [a, 1.0 - a], axis=0)
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
