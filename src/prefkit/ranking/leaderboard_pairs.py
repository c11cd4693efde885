"""Leaderboard fitter for the pairwise models on the count table: Bradley-Terry (ties half or dropped),
Davidson and Rao-Kupper (ties modelled), with sandwich or batched-bootstrap intervals."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from prefkit.ranking.bt import BootstrapSamples, bootstrap_pairs, fit_bt
from prefkit.ranking.counts import CountTable, item_totals
from prefkit.ranking.leaderboard_data import Battles, Rankings, as_count_table
from prefkit.ranking.leaderboard_fit import FitOptions, Fitted
from prefkit.ranking.leaderboard_result import Coefficient
from prefkit.ranking.ties import fit_davidson, fit_rao_kupper, outcome_probabilities

__all__ = ["PAIR_MODELS", "fit_pair_leaderboard", "pair_win_matrix"]

PAIR_MODELS = ("bt", "davidson", "rao-kupper")


def pair_win_matrix(theta: np.ndarray, model: str, eta: float | None) -> np.ndarray:
    """``P(row beats column)`` with a tie counted as half a win (tie models)."""
    d = theta[:, None] - theta[None, :]
    if model in ("bt", "pl"):
        return expit(d)
    p = outcome_probabilities(model, d, eta)
    return p[0] + 0.5 * p[2]


def fit_pair_leaderboard(
    data: Battles | CountTable | Rankings, opts: FitOptions, model: str = "bt"
) -> Fitted:
    """Fit ``model`` (one of :data:`PAIR_MODELS`) on the pair counts of ``data``."""
    table = as_count_table(data)
    if model == "bt":
        fit = fit_bt(table, ties=opts.ties, prior=opts.prior)
    elif model == "davidson":
        fit = fit_davidson(table, prior=opts.prior)
    else:
        fit = fit_rao_kupper(table, prior=opts.prior)
    boot: BootstrapSamples | None = None
    if opts.ci == "bootstrap":
        boot = bootstrap_pairs(
            table, fit, rounds=opts.rounds, rng=opts.rng, resampling=opts.resampling, progress=opts.progress
        )
    tie = None
    if fit.tie_param is not None:
        name = "log_nu" if fit.model == "davidson" else "log_theta"
        tie = Coefficient(name, float(fit.tie_param), float(fit.tie_param_se or 0.0))
    return Fitted(
        names=tuple(table.item_names()),
        theta=fit.theta,
        se=fit.se,
        samples=None if boot is None else boot.theta,
        totals=item_totals(table),
        n_battles=table.n_battles,
        win=pair_win_matrix(fit.theta, fit.model, fit.tie_param),
        tie_parameter=tie,
        notes=() if boot is None else _boot_notes(boot.converged),
    )


def _boot_notes(converged: np.ndarray) -> tuple[str, ...]:
    bad = int((~converged).sum())
    if bad:
        return (
            f"{bad} of {len(converged)} bootstrap rounds did not converge (the resample had an item that never "
            "lost or never won); their extreme ratings widen the intervals. A prior (--prior) avoids this",
        )
    return ()
