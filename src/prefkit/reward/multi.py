"""One reward head on several preference datasets, with MGDA weights across them (MORE).

Pooling datasets lets the biggest (or easiest) one dominate the shared reward. MORE (Zeng et al., "On
Diversified Preferences of Large Language Model Alignment") instead weighs the datasets' losses at every step by
the multiple-gradient descent algorithm (MGDA, Désidéri 2012): the weights ``a`` on the simplex that minimise
``|| sum_k a_k g_k ||`` (``g_k``: the gradient of dataset k's mean Bradley-Terry loss), so that the step
decreases every dataset's loss whenever such a step exists.

:func:`min_norm_weights` solves that small quadratic programme (exactly for two datasets, by Frank-Wolfe for
more); :func:`fit_multi` trains a linear Bradley-Terry head ``r(x) = x . w`` by gradient descent with the
weights re-solved at every step (``weighting="mgda"``), or with fixed weights (``"size"``: pooled data,
``"uniform"``: each dataset's mean loss counts the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from prefkit.errors import ValidationError
from prefkit.reward.bt import BradleyTerryHead
from prefkit.reward.pairs import PairFeatures

WEIGHTINGS = ("mgda", "uniform", "size")


def min_norm_weights(G: np.ndarray, *, iters: int = 200, tol: float = 1e-10) -> np.ndarray:
    """The point of the simplex minimising ``|| a @ G ||`` for gradients ``G`` ``(K, dim)``.

    Two rows: the closed form ``a_1 = clip(((g2 - g1) . g2) / ||g1 - g2||^2, 0, 1)``. Up to ten: exactly, by
    enumerating the supports; more: Frank-Wolfe on the Gram matrix with exact line search (Sener and Koltun, 2018).
    """
    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 2 or len(G) == 0:
        raise ValidationError(f"gradients must be a (K, dim) array with K >= 1; got shape {G.shape}")
    K = len(G)
    if K == 1:
        return np.ones(1)
    M = G @ G.T
    if K == 2:
        denom = M[0, 0] + M[1, 1] - 2 * M[0, 1]
        a1 = 0.5 if denom <= 0 else float(np.clip((M[1, 1] - M[0, 1]) / denom, 0.0, 1.0))
        return np.array([a1, 1.0 - a1])
    if K <= 10:
        return _enumerate_supports(M)
    a = np.full(K, 1.0 / K)
    for _ in range(iters):
        grad = M @ a
        t = int(np.argmin(grad))
        d = -a.copy()
        d[t] += 1.0  # direction towards vertex t
        dMd = float(d @ M @ d)
        if dMd <= 0:
            break
        step = float(np.clip(-(a @ M @ d) / dMd, 0.0, 1.0))
        if step * np.abs(d).max() < tol:
            break
        a = a + step * d
    return a


def _enumerate_supports(M: np.ndarray) -> np.ndarray:
    """Exact min of ``a' M a`` on the simplex: the best over supports S of the equality-constrained optimum
    ``a_S ~ M_S^+ 1`` that is non-negative (K <= 10: at most 1023 supports)."""
    from itertools import combinations

    K = len(M)
    best, best_a = np.inf, np.full(K, 1.0 / K)
    for k in range(1, K + 1):
        for S in combinations(range(K), k):
            idx = list(S)
            x = np.linalg.pinv(M[np.ix_(idx, idx)]) @ np.ones(k)
            if abs(x.sum()) < 1e-15:
                continue
            x = x / x.sum()
            if (x < -1e-12).any():
                continue
            a = np.zeros(K)
            a[idx] = np.clip(x, 0.0, None)
            a /= a.sum()
            v = float(a @ M @ a)
            if v < best - 1e-15:
                best, best_a = v, a
    return best_a


def _grad_loss(w: np.ndarray, diff: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, float]:
    """Gradient and value of the weighted mean BT loss ``mean log(1 + exp(-diff . w))``."""
    m = diff @ w
    p = 0.5 * (1.0 + np.tanh(-m / 2))  # sigmoid(-m), stable
    wt = weight / weight.sum()
    return -(wt * p) @ diff, float(wt @ np.logaddexp(0.0, -m))


@dataclass
class MultiFit:
    """The fitted head, the dataset weights at the end (and averaged over the steps), and the final losses."""

    head: BradleyTerryHead
    weights: np.ndarray
    mean_weights: np.ndarray
    losses: np.ndarray


def fit_multi(
    datasets: Sequence[PairFeatures],
    *,
    weighting: str = "mgda",
    l2: float = 1e-3,
    steps: int = 500,
    lr: float = 0.5,
    seed: int = 0,
) -> MultiFit:
    """A linear BT head on several datasets (same embedding space), weighted by ``weighting``."""
    if weighting not in WEIGHTINGS:
        raise ValidationError(f"unknown weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}")
    if len(datasets) < 1:
        raise ValidationError("multi-dataset training needs at least one dataset")
    dims = {p.dim for p in datasets}
    if len(dims) != 1:
        raise ValidationError(
            f"the datasets were embedded in different dimensions {sorted(dims)}; use one encoder"
        )
    for p in datasets:
        p.validate()
    if steps < 1 or lr <= 0 or l2 < 0:
        raise ValidationError(f"steps must be >= 1, lr > 0 and l2 >= 0; got {steps}, {lr}, {l2}")
    diffs = [np.asarray(p.xc - p.xr, dtype=np.float64) for p in datasets]
    wts = [np.asarray(p.weight, dtype=np.float64) for p in datasets]
    sizes = np.array([float(w.sum()) for w in wts])
    K, dim = len(datasets), dims.pop()
    fixed = np.full(K, 1.0 / K) if weighting == "uniform" else sizes / sizes.sum()
    w = np.zeros(dim)
    m1, m2 = np.zeros(dim), np.zeros(dim)
    total = np.zeros(K)
    a = fixed
    for t in range(1, steps + 1):
        G = np.stack([_grad_loss(w, d, wt)[0] for d, wt in zip(diffs, wts, strict=True)])
        a = min_norm_weights(G) if weighting == "mgda" else fixed
        total += a
        g = a @ G + 2 * l2 * w
        # Adam on the combined direction: the MGDA direction's norm shrinks near the Pareto set
        m1 = 0.9 * m1 + 0.1 * g
        m2 = 0.999 * m2 + 0.001 * g * g
        w = w - lr * 0.02 * (m1 / (1 - 0.9**t)) / (np.sqrt(m2 / (1 - 0.999**t)) + 1e-8)
    head = BradleyTerryHead(l2=l2, seed=seed)
    head.coef_ = w.astype(np.float32)
    losses = np.array([_grad_loss(w, d, wt)[1] for d, wt in zip(diffs, wts, strict=True)])
    return MultiFit(head, np.asarray(a, dtype=np.float64), total / steps, losses)
