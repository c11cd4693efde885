"""The contract between :func:`prefkit.ranking.leaderboard.build_leaderboard` and the per-method fitters.

Each fitter (``leaderboard_pairs``, ``leaderboard_elo``, ``leaderboard_pl``, ``leaderboard_style``) takes the
data and a :class:`FitOptions` and returns a :class:`Fitted`: strengths on the natural-log scale (or Elo ratings),
standard errors and/or bootstrap samples, per-item totals. :func:`assemble` turns that into the typed
:class:`~prefkit.ranking.leaderboard_result.Leaderboard`: rating scale, anchor, intervals, ranks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prefkit.errors import DataProblemError
from prefkit.ranking import intervals as iv
from prefkit.ranking.counts import ItemTotals
from prefkit.ranking.leaderboard_result import Coefficient, Leaderboard
from prefkit.ranking.scale import EloScale, anchor_shift

__all__ = ["FitOptions", "Fitted", "assemble"]


@dataclass(frozen=True)
class FitOptions:
    """What every fitter may use (each ignores what its model has no use for). ``rng`` drives bootstraps."""

    rng: np.random.Generator
    ties: str = "half"
    ci: str = "sandwich"
    rounds: int = 1000
    prior: float = 0.0
    coef_prior: float = 0.0
    elo_k: float = 4.0
    scale: EloScale = field(default_factory=EloScale)
    resampling: str = "poisson"
    progress: Callable[[int], Any] | None = None


@dataclass
class Fitted:
    """One fitted model, before scaling, anchoring and intervals."""

    names: tuple[str, ...]
    theta: np.ndarray  # natural-log strengths (for elo: already ratings, see is_rating)
    se: np.ndarray | None
    samples: np.ndarray | None  # (rounds, n) theta
    totals: ItemTotals
    n_battles: float
    win: np.ndarray
    tie_parameter: Coefficient | None = None
    coefficients: tuple[Coefficient, ...] = ()
    is_rating: bool = False
    notes: tuple[str, ...] = ()


def assemble(
    res: Fitted,
    *,
    method: str,
    ties: str,
    ci: str,
    level: float,
    scale: EloScale,
    anchor: tuple[str, float] | None,
    rounds: int,
) -> Leaderboard:
    """Ratings on ``scale`` (shifted to ``anchor``), ``level`` intervals by ``ci``, ranks and totals."""
    names = res.names
    if len(names) < 2:
        raise DataProblemError(f"need at least two items to rank, got {len(names)}")

    def conv(x: np.ndarray) -> np.ndarray:
        return x if res.is_rating else scale.to_rating(x)

    rating = conv(res.theta)
    shift = anchor_shift(rating, names, anchor)
    rating = rating + shift
    samples = None if res.samples is None else conv(res.samples) + shift
    if ci == "bootstrap" and samples is not None:
        lower, upper = iv.percentile_intervals(samples, level)
        rank_lo, rank_hi = iv.rank_intervals_bootstrap(samples, level)
    elif ci == "sandwich" and res.se is not None:
        f = 1.0 if res.is_rating else scale.factor
        lower, upper = iv.normal_intervals(rating, res.se * f, level)
        rank_lo, rank_hi = iv.rank_intervals_from_bounds(lower, upper)
    else:
        lower, upper = rating.copy(), rating.copy()
        rank_lo, rank_hi = iv.rank_intervals_from_bounds(lower, upper)
    rank = iv.displayed_rank(lower, upper)
    t = res.totals
    return Leaderboard(
        method=method,
        ties=ties,
        ci=ci,
        level=level,
        scale=scale,
        names=tuple(names),
        rating=rating,
        lower=lower,
        upper=upper,
        rank=rank,
        rank_lower=rank_lo,
        rank_upper=rank_hi,
        battles=t.battles,
        wins=t.wins,
        losses=t.losses,
        ties_count=t.ties,
        theta=res.theta,
        win_probability=res.win,
        n_battles=res.n_battles,
        rounds=rounds,
        samples=samples,
        tie_parameter=res.tie_parameter,
        coefficients=res.coefficients,
        anchor=anchor,
        notes=res.notes,
    )
