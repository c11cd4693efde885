"""Leaderboards: one entry point over every model, returning a typed :class:`Leaderboard`.

    lb = build_leaderboard(Battles(a, b, outcome, names=names), method="bt", ci="bootstrap", rounds=1000, seed=0)
    for row in lb.rows(): print(row.rank, row.name, row.rating, row.lower, row.upper)

Methods: ``bt`` (Bradley-Terry, ties half or dropped), ``davidson`` and ``rao-kupper`` (tie models),
``elo`` (online Elo; bootstrap over orderings), ``pl`` (Plackett-Luce; K-wise rankings or pairs). ``style``
adds per-battle covariates to Bradley-Terry. Ratings are on the Elo scale unless ``scale.raw``.

The pieces live in small modules, re-exported here: the inputs (:mod:`~prefkit.ranking.leaderboard_data`), the
result type (:mod:`~prefkit.ranking.leaderboard_result`), the fitter contract and the step from a fit to a
leaderboard (:mod:`~prefkit.ranking.leaderboard_fit`), one fitter per model family (``leaderboard_pairs``,
``leaderboard_elo``, ``leaderboard_pl``, ``leaderboard_style``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from prefkit.errors import DataProblemError, ValidationError
from prefkit.ranking import intervals as iv
from prefkit.ranking.counts import CountTable
from prefkit.ranking.graph import diagnose
from prefkit.ranking.leaderboard_data import Battles, Rankings, pairs_to_rankings, rankings_to_pairs
from prefkit.ranking.leaderboard_elo import fit_elo_leaderboard
from prefkit.ranking.leaderboard_fit import FitOptions, Fitted, assemble
from prefkit.ranking.leaderboard_pairs import fit_pair_leaderboard
from prefkit.ranking.leaderboard_pl import fit_pl_leaderboard
from prefkit.ranking.leaderboard_result import Coefficient, Leaderboard, LeaderboardRow
from prefkit.ranking.leaderboard_style import fit_style_leaderboard
from prefkit.ranking.scale import EloScale

__all__ = [
    "CI_METHODS",
    "METHODS",
    "Battles",
    "Coefficient",
    "Leaderboard",
    "LeaderboardRow",
    "Rankings",
    "RatingModel",
    "build_leaderboard",
    "pairs_to_rankings",
    "rankings_to_pairs",
]

METHODS = ("bt", "elo", "davidson", "rao-kupper", "pl")
CI_METHODS = ("sandwich", "bootstrap", "none")

Fitter = Callable[[Battles | CountTable | Rankings, FitOptions], Fitted]
FITTERS: dict[str, Fitter] = {
    "bt": partial(fit_pair_leaderboard, model="bt"),
    "davidson": partial(fit_pair_leaderboard, model="davidson"),
    "rao-kupper": partial(fit_pair_leaderboard, model="rao-kupper"),
    "elo": fit_elo_leaderboard,
    "pl": fit_pl_leaderboard,
    "style": fit_style_leaderboard,
}


def build_leaderboard(
    data: Battles | CountTable | Rankings,
    *,
    method: str = "bt",
    ties: str = "half",
    ci: str | None = None,
    rounds: int = 1000,
    level: float = 0.95,
    prior: float = 0.0,
    style: bool = False,
    coef_prior: float = 0.0,
    scale: EloScale | None = None,
    anchor: tuple[str, float] | None = None,
    elo_k: float = 4.0,
    seed: int | None = 0,
    resampling: str = "poisson",
    progress: Callable[[int], Any] | None = None,
) -> Leaderboard:
    """Fit ``method`` and compute intervals (``ci``: sandwich | bootstrap | none; default sandwich, bootstrap for
    elo). ``seed`` drives the bootstrap."""
    if method not in METHODS:
        raise ValidationError(f"method must be one of {METHODS}, got {method!r}")
    if ties not in ("half", "drop"):
        raise ValidationError(f"ties must be 'half' or 'drop', got {ties!r}")
    ci = ci or ("bootstrap" if method == "elo" else "sandwich")
    if ci not in CI_METHODS:
        raise ValidationError(f"ci must be one of {CI_METHODS}, got {ci!r}")
    if method == "elo" and ci == "sandwich":
        raise ValidationError("online Elo has no sandwich interval; use ci='bootstrap'")
    iv.check_level(level)
    if ci == "bootstrap" and rounds < 1:
        raise ValidationError(f"rounds must be >= 1, got {rounds}")
    if style and method != "bt":
        raise ValidationError("style control is a Bradley-Terry model: use method 'bt' with style")
    scale = scale or EloScale()
    opts = FitOptions(
        rng=np.random.default_rng(seed),
        ties=ties,
        ci=ci,
        rounds=rounds,
        prior=prior,
        coef_prior=coef_prior,
        elo_k=elo_k,
        scale=scale,
        resampling=resampling,
        progress=progress,
    )
    notes = _check_pairs(data)
    res = FITTERS["style" if style else method](data, opts)
    lb = assemble(
        res,
        method=method,
        ties=ties if method not in ("davidson", "rao-kupper") else "model",
        ci=ci,
        level=level,
        scale=scale,
        anchor=anchor,
        rounds=rounds if ci == "bootstrap" else 0,
    )
    if ci != "none":
        flat = [n for n, lo, hi in zip(lb.names, lb.lower, lb.upper, strict=True) if hi - lo <= 0]
        if flat:
            notes += (
                f"the intervals of {_listed(flat)} have zero width: they are not estimable from these battles "
                "(all of those items' battles are ties); do not read them as certainty",
            )
    return replace(lb, notes=(*lb.notes, *notes)) if notes else lb


def _listed(names: Sequence[str], limit: int = 8) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _check_pairs(data: Battles | CountTable | Rankings) -> tuple[str, ...]:
    """Refuse a log of ties only; note a disconnected comparison graph (a prior, or Elo, still ranks it)."""
    if isinstance(data, Rankings):
        return ()
    table = data.counts() if isinstance(data, Battles) else data
    decisive = float(np.sum(table.win) + np.sum(table.loss))
    if decisive == 0 and float(np.sum(table.tie)) > 0:
        raise DataProblemError(
            f"every one of the {float(np.sum(table.tie)):g} battles is a tie: nothing separates the items, so "
            "their ratings are all equal and their intervals are not estimable; rank a log with decisive outcomes"
        )
    if table.n_battles <= 0 or table.n_items < 2:
        return ()
    diag = diagnose(table)
    if diag.n_components < 2:
        return ()
    names = table.item_names()
    comps = sorted(
        ([names[int(k)] for k in np.flatnonzero(diag.component == c)] for c in range(diag.n_components)),
        key=len,
        reverse=True,
    )
    shown = "; ".join("{" + _listed(c, 6) + "}" for c in comps[:6])
    more = f" and {len(comps) - 6} more" if len(comps) > 6 else ""
    return (
        f"the comparison graph has {diag.n_components} disconnected components: {shown}{more}. Ratings compare "
        "only within a component; across components their order means nothing",
    )


class RatingModel:
    """Estimator wrapper: ``RatingModel(method="bt", ci="bootstrap").fit(battles).leaderboard_``."""

    def __init__(
        self,
        method: str = "bt",
        *,
        ties: str = "half",
        ci: str | None = None,
        rounds: int = 1000,
        level: float = 0.95,
        prior: float = 0.0,
        style: bool = False,
        scale: EloScale | None = None,
        anchor: tuple[str, float] | None = None,
        seed: int | None = 0,
    ) -> None:
        self.method, self.ties, self.ci, self.rounds, self.level = method, ties, ci, rounds, level
        self.prior, self.style, self.scale, self.anchor, self.seed = prior, style, scale, anchor, seed

    def fit(self, data: Battles | CountTable | Rankings) -> RatingModel:
        self.leaderboard_ = build_leaderboard(
            data,
            method=self.method,
            ties=self.ties,
            ci=self.ci,
            rounds=self.rounds,
            level=self.level,
            prior=self.prior,
            style=self.style,
            scale=self.scale,
            anchor=self.anchor,
            seed=self.seed,
        )
        self.ratings_ = self.leaderboard_.rating
        self.names_: Sequence[str] = self.leaderboard_.names
        return self
