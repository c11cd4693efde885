"""The typed result of a leaderboard fit: :class:`Leaderboard` (arrays in item-code order), its rows and
coefficients, and its JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prefkit.ranking.scale import EloScale

__all__ = ["Coefficient", "Leaderboard", "LeaderboardRow"]


@dataclass(frozen=True)
class LeaderboardRow:
    name: str
    rating: float
    lower: float
    upper: float
    rank: int
    rank_lower: int
    rank_upper: int
    battles: float
    wins: float
    losses: float
    ties: float


@dataclass(frozen=True)
class Coefficient:
    name: str
    value: float
    se: float


@dataclass(frozen=True, eq=False)
class Leaderboard:
    """Ratings with intervals, ranks and counts per item (arrays in item-code order)."""

    method: str
    ties: str
    ci: str
    level: float
    scale: EloScale
    names: tuple[str, ...]
    rating: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rank: np.ndarray
    rank_lower: np.ndarray
    rank_upper: np.ndarray
    battles: np.ndarray
    wins: np.ndarray
    losses: np.ndarray
    ties_count: np.ndarray
    theta: np.ndarray
    win_probability: np.ndarray
    n_battles: float
    rounds: int = 0
    samples: np.ndarray | None = None
    tie_parameter: Coefficient | None = None
    coefficients: tuple[Coefficient, ...] = ()
    anchor: tuple[str, float] | None = None
    notes: tuple[str, ...] = field(default=())

    def order(self) -> np.ndarray:
        return np.argsort(-self.rating, kind="stable")

    def rows(self) -> list[LeaderboardRow]:
        """Rows sorted by rating, best first."""
        return [
            LeaderboardRow(
                name=self.names[k],
                rating=float(self.rating[k]),
                lower=float(self.lower[k]),
                upper=float(self.upper[k]),
                rank=int(self.rank[k]),
                rank_lower=int(self.rank_lower[k]),
                rank_upper=int(self.rank_upper[k]),
                battles=float(self.battles[k]),
                wins=float(self.wins[k]),
                losses=float(self.losses[k]),
                ties=float(self.ties_count[k]),
            )
            for k in self.order()
        ]

    def to_dict(self, *, win_matrix_limit: int = 100) -> dict[str, Any]:
        """A JSON-ready dict: ``{"method", "leaderboard": [...], ...}`` (rows sorted by rating)."""
        rows = []
        for r in self.rows():
            rows.append(
                {
                    "name": r.name,
                    "rating": r.rating,
                    "lower": r.lower,
                    "upper": r.upper,
                    "rank": r.rank,
                    "rank_lower": r.rank_lower,
                    "rank_upper": r.rank_upper,
                    "battles": _num(r.battles),
                    "wins": _num(r.wins),
                    "losses": _num(r.losses),
                    "ties": _num(r.ties),
                }
            )
        out: dict[str, Any] = {
            "method": self.method,
            "ties": self.ties,
            "ci": self.ci,
            "level": self.level,
            "rounds": self.rounds,
            "scale": {
                "scale": self.scale.scale,
                "base": self.scale.base,
                "center": self.scale.center,
                "raw": self.scale.raw,
            },
            "anchor": None if self.anchor is None else {"name": self.anchor[0], "rating": self.anchor[1]},
            "n_items": len(self.names),
            "n_battles": _num(self.n_battles),
            "leaderboard": rows,
            "tie_parameter": None if self.tie_parameter is None else vars(self.tie_parameter),
            "coefficients": [vars(c) for c in self.coefficients],
            "notes": list(self.notes),
        }
        if len(self.names) <= win_matrix_limit:
            order = self.order()
            out["win_probability"] = {
                "names": [self.names[k] for k in order],
                "matrix": np.round(self.win_probability[np.ix_(order, order)], 6).tolist(),
            }
        return out


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)
