"""Fitters from ``prefkit.ranking`` handed to the analysis protocols (analysis does not import ranking)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Fitter = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def bt_fitter(prior: float = 1.0) -> Fitter:
    """``fit(win, lose, n) -> (theta, se)``: Bradley-Terry MAP (Gaussian prior of precision ``prior``)."""
    from prefkit.ranking.bt import fit_bt
    from prefkit.ranking.counts import count_pairwise

    def fit(win: np.ndarray, lose: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
        table = count_pairwise(win, lose, np.zeros(len(win), dtype=np.int64), n_items=n_items)
        res = fit_bt(table, prior=prior)
        return np.asarray(res.theta), np.asarray(res.se)

    return fit
