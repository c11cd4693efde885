"""Factor-level influence (as in PROFILE): how often the preferred response has more of each property.

Model-free and side by side per group: among the decisive judgments where property ``k`` differs between the
two responses, ``share`` is the fraction won by the response with the larger value (0.5: no influence; above:
the group prefers more of it; below: less), with a Wilson score interval. It complements the dissection's
weights, which are adjusted for the other properties; this share is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from prefkit.data.model import OUTCOME_A, OUTCOME_B
from prefkit.errors import ValidationError


@dataclass(frozen=True)
class FactorShare:
    property: str
    n: int
    share: float
    lower: float
    upper: float


def wilson(successes: np.ndarray, n: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion (``nan`` where ``n = 0``)."""
    z = float(norm.ppf(0.5 + level / 2))
    s = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = s / m
        centre = (p + z * z / (2 * m)) / (1 + z * z / m)
        half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / (1 + z * z / m)
    return centre - half, centre + half


def factor_shares(
    diffs: np.ndarray,
    outcome: np.ndarray,
    properties: Sequence[str],
    groups: np.ndarray | None = None,
    group_names: Sequence[str] | None = None,
    *,
    level: float = 0.95,
) -> dict[str, list[FactorShare]]:
    """Per group, per property: the share of decisive judgments won by the side with more of it."""
    x = np.asarray(diffs, dtype=np.float64)
    o = np.asarray(outcome)
    if x.ndim != 2 or x.shape[1] != len(properties) or len(o) != len(x):
        raise ValidationError(
            "diffs, outcome, properties: expected a (judgments x properties) matrix and one outcome each"
        )
    g = np.zeros(len(x), dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    names = ["all"] if group_names is None else [str(n) for n in group_names]
    a_won = o == OUTCOME_A
    decisive = a_won | (o == OUTCOME_B)
    out: dict[str, list[FactorShare]] = {}
    for code, name in enumerate(names):
        rows = decisive & (g == code)
        xs = x[rows]
        differs = np.isfinite(xs) & (xs != 0)
        agree = differs & ((xs > 0) == a_won[rows][:, None])
        n = differs.sum(axis=0)
        k = agree.sum(axis=0)
        lo, hi = wilson(k, n, level)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = k / n
        out[name] = [
            FactorShare(p, int(n[j]), float(share[j]), float(lo[j]), float(hi[j]))
            for j, p in enumerate(properties)
        ]
    return out
