"""Leaderboard fitter for Plackett-Luce on K-wise rankings (battles are rankings of two)."""

from __future__ import annotations

from scipy.special import expit

from prefkit.errors import ValidationError
from prefkit.ranking.counts import CountTable
from prefkit.ranking.leaderboard_data import Battles, Rankings, pairs_to_rankings, ranking_totals
from prefkit.ranking.leaderboard_fit import FitOptions, Fitted
from prefkit.ranking.pl import bootstrap_pl, fit_pl

__all__ = ["fit_pl_leaderboard"]


def fit_pl_leaderboard(data: Battles | CountTable | Rankings, opts: FitOptions) -> Fitted:
    """Plackett-Luce MLE (MAP with ``opts.prior``); bootstrap over rankings."""
    if isinstance(data, CountTable):
        raise ValidationError("Plackett-Luce needs rankings or battles, not a count table")
    rk = pairs_to_rankings(data) if isinstance(data, Battles) else data
    n = len(rk.names)
    fit = fit_pl(rk.offsets, rk.members, rk.level, n, weight=rk.weight, prior=opts.prior)
    samples = None
    if opts.ci == "bootstrap":
        samples = bootstrap_pl(
            rk.offsets, rk.members, rk.level, n, fit, rounds=opts.rounds, rng=opts.rng, weight=rk.weight,
            resampling=opts.resampling, progress=opts.progress,
        )  # fmt: skip
    return Fitted(
        names=rk.names,
        theta=fit.theta,
        se=fit.se,
        samples=samples,
        totals=ranking_totals(rk),
        n_battles=float(len(rk.offsets) - 1),
        win=expit(fit.theta[:, None] - fit.theta[None, :]),
    )
