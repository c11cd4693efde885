"""Leaderboard fitter for online Elo: ratings in log order, intervals from a bootstrap over orderings."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from prefkit.errors import ValidationError
from prefkit.ranking.counts import CountTable, item_totals
from prefkit.ranking.elo import bootstrap_elo, elo_pairwise
from prefkit.ranking.leaderboard_data import Battles, Rankings
from prefkit.ranking.leaderboard_fit import FitOptions, Fitted

__all__ = ["fit_elo_leaderboard"]


def fit_elo_leaderboard(data: Battles | CountTable | Rankings, opts: FitOptions) -> Fitted:
    """Online Elo (K-factor ``opts.elo_k``) on the battles in order; ratings are already on ``opts.scale``."""
    if not isinstance(data, Battles):
        raise ValidationError("online Elo needs the battles in order, not a count table or rankings")
    scale = opts.scale
    r = elo_pairwise(
        data.a, data.b, data.outcome, data.n_items, k=opts.elo_k, base=scale.base, scale=scale.scale,
        init=scale.center, ties=opts.ties,
    )  # fmt: skip
    samples = None
    if opts.ci == "bootstrap":
        samples = bootstrap_elo(
            data.a, data.b, data.outcome, data.n_items, rounds=opts.rounds, rng=opts.rng, k=opts.elo_k,
            base=scale.base, scale=scale.scale, init=scale.center, ties=opts.ties, progress=opts.progress,
        )  # fmt: skip
    table = data.counts()
    lb = np.log(scale.base) / scale.scale
    return Fitted(
        names=data.names,
        theta=r,
        se=None,
        samples=samples,
        totals=item_totals(table),
        n_battles=table.n_battles,
        win=expit((r[:, None] - r[None, :]) * lb),
        is_rating=True,
    )
