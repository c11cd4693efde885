"""Across criteria without a forced weighted sum: the Pareto (non-dominated) set decided with intervals, and a
weighted scalarisation only when the user gives the weights ("Beyond Preferences").

Dominance with intervals: item ``j`` dominates item ``i`` when, on every criterion, ``j``'s interval lies at or
above ``i``'s (``lower_j >= lower_i`` and ``upper_j >= upper_i``) and, on at least one criterion, ``j`` is
clearly better (``lower_j > upper_i``: the intervals do not overlap). Overlapping intervals never dominate, so
an item leaves the set only when the data separate it from a better one; with point ratings (zero-width
intervals) this is ordinary Pareto dominance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from prefkit.errors import ValidationError
from prefkit.ranking.leaderboard_result import Leaderboard

__all__ = [
    "ParetoItem",
    "WeightedItem",
    "dominance_matrix",
    "pareto_front",
    "parse_weights",
    "weighted_scores",
]


def dominance_matrix(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``D[j, i]`` is True when item ``j`` dominates item ``i``; ``lower``/``upper`` are (n_items, n_criteria)."""
    lo_j, lo_i = lower[:, None, :], lower[None, :, :]
    up_j, up_i = upper[:, None, :], upper[None, :, :]
    weakly = np.all((lo_j >= lo_i) & (up_j >= up_i), axis=2)
    strictly = np.any(lo_j > up_i, axis=2)
    return weakly & strictly


@dataclass(frozen=True)
class ParetoItem:
    name: str
    rating: dict[str, float]
    lower: dict[str, float]
    upper: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "criteria": {
                c: {"rating": self.rating[c], "lower": self.lower[c], "upper": self.upper[c]}
                for c in self.rating
            },
        }


def _stack(boards: Mapping[str, Leaderboard]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Items rated on every criterion (at least one battle each) and their (n, C) rating/lower/upper."""
    crits = list(boards)
    first = boards[crits[0]]
    names = [n for n in first.names if all(n in b.names for b in boards.values())]
    pos = {c: {n: k for k, n in enumerate(b.names)} for c, b in boards.items()}
    names = [n for n in names if all(boards[c].battles[pos[c][n]] > 0 for c in crits)]
    idx = {c: np.array([pos[c][n] for n in names], dtype=np.int64) for c in crits}
    rating = (
        np.column_stack([boards[c].rating[idx[c]] for c in crits]) if names else np.zeros((0, len(crits)))
    )
    lower = np.column_stack([boards[c].lower[idx[c]] for c in crits]) if names else np.zeros((0, len(crits)))
    upper = np.column_stack([boards[c].upper[idx[c]] for c in crits]) if names else np.zeros((0, len(crits)))
    return names, rating, lower, upper


def pareto_front(boards: Mapping[str, Leaderboard]) -> list[ParetoItem]:
    """The non-dominated items across ``boards`` (one leaderboard per criterion), sorted by name. Items without
    a battle on some criterion are left out (they cannot be compared on it)."""
    if not boards:
        return []
    crits = list(boards)
    names, rating, lower, upper = _stack(boards)
    dominated = dominance_matrix(lower, upper).any(axis=0)
    out = []
    for k in np.flatnonzero(~dominated):
        out.append(
            ParetoItem(
                names[k],
                {c: float(rating[k, j]) for j, c in enumerate(crits)},
                {c: float(lower[k, j]) for j, c in enumerate(crits)},
                {c: float(upper[k, j]) for j, c in enumerate(crits)},
            )
        )
    return sorted(out, key=lambda p: p.name)


def parse_weights(text: str, known: Sequence[str]) -> dict[str, float]:
    """``"helpful=2,harmless=1"`` -> weights; unknown names list the known ones."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise ValidationError(f"--weights wants NAME=WEIGHT pairs separated by commas, got {part!r}")
        if name not in known:
            raise ValidationError(f"--weights: unknown criterion {name!r}; known: {', '.join(known)}")
        try:
            w = float(value)
        except ValueError:
            raise ValidationError(f"--weights: {name}={value!r} is not a number") from None
        if not np.isfinite(w) or w < 0:
            raise ValidationError(f"--weights: {name} must be a finite weight >= 0, got {value}")
        out[name] = w
    if not out or sum(out.values()) <= 0:
        raise ValidationError(
            "--weights needs at least one positive weight, e.g. --weights helpful=2,harmless=1"
        )
    return out


@dataclass(frozen=True)
class WeightedItem:
    name: str
    score: float
    lower: float
    upper: float


def weighted_scores(boards: Mapping[str, Leaderboard], weights: Mapping[str, float]) -> list[WeightedItem]:
    """``sum_c w_c rating_c / sum_c w_c`` per item, best first. The interval adds the weighted interval ends
    (``sum w_c lower_c / sum w_c``): exact if the criteria's errors were perfectly correlated, conservative
    otherwise."""
    used = {c: boards[c] for c in weights}
    names, rating, lower, upper = _stack(used)
    w = np.array([weights[c] for c in used], dtype=float)
    w = w / w.sum()
    score, lo, up = rating @ w, lower @ w, upper @ w
    order = np.argsort(-score, kind="stable")
    return [WeightedItem(names[k], float(score[k]), float(lo[k]), float(up[k])) for k in order]
