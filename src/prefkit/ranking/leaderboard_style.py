"""Leaderboard fitter for Bradley-Terry with per-battle covariates (style control); bootstrap over battles."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from prefkit.errors import ValidationError
from prefkit.ranking.counts import CountTable, item_totals
from prefkit.ranking.leaderboard_data import Battles, Rankings
from prefkit.ranking.leaderboard_fit import FitOptions, Fitted
from prefkit.ranking.leaderboard_result import Coefficient
from prefkit.ranking.resample import resample_counts
from prefkit.ranking.style import StyleFit, fit_bt_style

__all__ = ["fit_style_leaderboard"]


def fit_style_leaderboard(data: Battles | CountTable | Rankings, opts: FitOptions) -> Fitted:
    """Bradley-Terry with the battles' ``features`` as covariates; item ratings are style-controlled."""
    if not isinstance(data, Battles) or data.features is None:
        raise ValidationError(
            "style control needs per-battle features (style_* columns or Chatbot Arena conv_metadata)"
        )
    features = data.features

    def fit(weight: np.ndarray | None, prior: float) -> StyleFit:
        return fit_bt_style(
            data.a, data.b, data.outcome, features, data.n_items, feature_names=data.feature_names,
            ties=opts.ties, weight=weight, prior=prior, coef_prior=opts.coef_prior,
        )  # fmt: skip

    full = fit(data.weight, opts.prior)
    samples = None
    if opts.ci == "bootstrap":
        base_w = np.ones(len(data.a)) if data.weight is None else np.asarray(data.weight, dtype=float)
        W = resample_counts(base_w, opts.rounds, opts.rng, opts.resampling)
        samples = np.empty((opts.rounds, data.n_items))
        for r in range(opts.rounds):
            samples[r] = fit(W[r], max(opts.prior, 1e-9)).theta
            if opts.progress is not None:
                opts.progress(1)
    coefs = tuple(
        Coefficient(n, float(v), float(s))
        for n, v, s in zip(full.feature_names, full.coef, full.coef_se, strict=True)
    )
    table = data.counts()
    return Fitted(
        names=data.names,
        theta=full.theta,
        se=full.se,
        samples=samples,
        totals=item_totals(table),
        n_battles=table.n_battles,
        win=expit(full.theta[:, None] - full.theta[None, :]),
        coefficients=coefs,
    )
