"""Regression on ratings: one ridge model per attribute, its penalty chosen on a validation split.

Pure functions :func:`ridge_path` (closed form through one eigendecomposition for every penalty) and :func:`ridge_select`
(penalty by validation MSE), and :class:`RegressionHead`, whose reward is a weighted sum of the attribute
predictions. Without ratings, a head fitted on pairs regresses implied ratings: ``+s/2`` for the chosen
and ``-s/2`` for the rejected response (``s`` = strength, 1 when absent).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prefkit.errors import ValidationError
from prefkit.reward.base import RewardHead
from prefkit.reward.pairs import PairFeatures

DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-3, 4, 15))


def ridge_path(X: np.ndarray, y: np.ndarray, alphas: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Ridge coefficients ``(len(alphas), d)`` and intercepts ``(len(alphas),)`` of ``y ~ X``.

    Minimises ``||y - X w - b||^2 + alpha ||w||^2`` (the intercept is not penalised). A penalty of 0 needs
    a full-rank design.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xm, ym = X.mean(axis=0), y.mean()
    Xc, yc = X - xm, y - ym
    alphas_arr = np.asarray(alphas, dtype=np.float64)[:, None]
    # one eigendecomposition of the smaller Gram matrix serves every penalty
    if Xc.shape[0] >= Xc.shape[1]:
        lam, V = np.linalg.eigh(Xc.T @ Xc)
        coefs = (V.T @ (Xc.T @ yc) / (np.maximum(lam, 0) + alphas_arr)) @ V.T
    else:
        lam, U = np.linalg.eigh(Xc @ Xc.T)
        coefs = ((U.T @ yc) / (np.maximum(lam, 0) + alphas_arr)) @ (Xc.T @ U).T
    return coefs, ym - coefs @ xm


def ridge_select(
    X: np.ndarray,
    y: np.ndarray,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    *,
    val_fraction: float = 0.2,
    groups: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, float, float]:
    """Fit ridge for every penalty on a train split, pick the lowest validation MSE, refit on all rows.

    Rows with the same ``groups`` value stay on the same side of the split. Returns (coef, intercept, alpha).
    """
    if not 0 < val_fraction < 1:
        raise ValidationError(f"val_fraction must lie in (0, 1); got {val_fraction}")
    rng = rng or np.random.default_rng(0)
    n = len(y)
    g = np.arange(n) if groups is None else np.asarray(groups)
    ug = np.unique(g)
    if len(ug) < 5:
        raise ValidationError(
            f"ridge regression needs at least 5 rows (or groups) to choose a penalty; got {len(ug)}"
        )
    val_groups = rng.permutation(ug)[: max(1, int(round(val_fraction * len(ug))))]
    val = np.isin(g, val_groups)
    coefs, ints = ridge_path(X[~val], y[~val], alphas)
    mse = (((X[val] @ coefs.T + ints) - y[val, None]) ** 2).mean(axis=0)
    alpha = float(np.asarray(alphas)[int(np.argmin(mse))])
    coef, intercept = ridge_path(X, y, [alpha])
    return coef[0], float(intercept[0]), alpha


class RegressionHead(RewardHead):
    """One ridge model per attribute; reward = ``attribute_weights`` . predictions (uniform by default)."""

    kind = "regression"

    def __init__(
        self,
        alphas: Sequence[float] = DEFAULT_ALPHAS,
        val_fraction: float = 0.2,
        attribute_weights: Sequence[float] | None = None,
        seed: int = 0,
    ) -> None:
        self.alphas = list(alphas)
        self.val_fraction = val_fraction
        self.attribute_weights = None if attribute_weights is None else list(attribute_weights)
        self.seed = seed

    def fit_ratings(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        attribute_names: Sequence[str] | None = None,
        groups: np.ndarray | None = None,
    ) -> RegressionHead:
        """``Y[i, a]`` is the rating of row i on attribute a (``nan`` = not rated)."""
        X = np.asarray(X, dtype=np.float32)
        Y = np.asarray(Y, dtype=np.float64)
        Y = Y[:, None] if Y.ndim == 1 else Y
        if X.ndim != 2 or len(X) != len(Y):
            raise ValidationError(f"X must be (n, dim) and Y (n, n_attributes); got {X.shape} and {Y.shape}")
        n_attr = Y.shape[1]
        names = list(attribute_names) if attribute_names is not None else [f"attr{a}" for a in range(n_attr)]
        if len(names) != n_attr:
            raise ValidationError(f"{len(names)} attribute names for {n_attr} attributes")
        if self.attribute_weights is not None and len(self.attribute_weights) != n_attr:
            raise ValidationError(
                f"attribute_weights has {len(self.attribute_weights)} entries for {n_attr} attributes"
            )
        rng = np.random.default_rng(self.seed)
        coef = np.zeros((X.shape[1], n_attr), dtype=np.float32)
        intercept = np.zeros(n_attr)
        alpha = np.zeros(n_attr)
        for a in range(n_attr):
            ok = np.isfinite(Y[:, a])
            sub_groups = None if groups is None else np.asarray(groups)[ok]
            c, b, al = ridge_select(
                X[ok], Y[ok, a], self.alphas, val_fraction=self.val_fraction, groups=sub_groups, rng=rng
            )
            coef[:, a], intercept[a], alpha[a] = c, b, al
        self.coef_, self.intercept_, self.alpha_ = coef, intercept.astype(np.float32), alpha
        self.attribute_names_ = names
        w = (
            np.full(n_attr, 1.0 / n_attr)
            if self.attribute_weights is None
            else np.asarray(self.attribute_weights)
        )
        self.weights_ = w.astype(np.float32)
        return self

    def fit(self, pairs: PairFeatures) -> RegressionHead:
        """Regress implied ratings ``+s/2`` (chosen) and ``-s/2`` (rejected) of every pair."""
        pairs.validate()
        s = np.nan_to_num(pairs.strength, nan=1.0)
        X = np.concatenate([pairs.xc, pairs.xr])
        y = np.concatenate([s / 2, -s / 2])
        groups = np.tile(np.arange(len(pairs)), 2)
        return self.fit_ratings(X, y, ["implied"], groups=groups)

    def attribute_rewards(self, x: np.ndarray) -> np.ndarray:
        """``(n, n_attributes)`` predicted ratings."""
        return np.asarray(x, dtype=np.float32) @ self.coef_ + self.intercept_

    def reward(
        self,
        x: np.ndarray,
        ctx: np.ndarray | None = None,
        annotator: np.ndarray | None = None,
        verbosity: np.ndarray | None = None,
    ) -> np.ndarray:
        return self.attribute_rewards(x) @ self.weights_
