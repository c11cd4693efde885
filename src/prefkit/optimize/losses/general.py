"""A general (non-Bradley-Terry) preference model that can represent intransitive preferences.

Bradley-Terry gives each response one scalar and so can only express transitive preferences. The general
preference model of Zhang et al. (2024, "General Preference Modeling with Preference Representation Learning")
embeds each response as ``v`` in R^(2m) and scores a pair with a skew-symmetric form,
``s(a, b) = v_a^T R v_b`` with ``R`` block-diagonal of ``[[0, -1], [1, 0]]`` blocks, so ``s(a, b) = -s(b, a)``
and ``P(a beats b) = sigmoid(s(a, b) / beta)``. Rock-paper-scissors cycles are representable (with 2 dims).

``fit_general_preference`` learns one embedding per item from pairwise outcomes (full-batch L-BFGS on the
log-loss with a small L2 penalty); the win-rate matrix it gives feeds DNO / INPO / SPPO iteration data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from prefkit.errors import ValidationError
from prefkit.optimize.losses._common import positive, torch


def skew_score(emb_a: Any, emb_b: Any) -> Any:
    """``v_a^T R v_b`` for embeddings of shape ``(..., 2m)`` (R: blocks [[0, -1], [1, 0]])."""
    if emb_a.shape[-1] % 2:
        raise ValidationError(f"embeddings need an even dimension, got {emb_a.shape[-1]}")
    a1, a2 = emb_a[..., 0::2], emb_a[..., 1::2]
    b1, b2 = emb_b[..., 0::2], emb_b[..., 1::2]
    return (a2 * b1 - a1 * b2).sum(dim=-1)


def general_preference_loss(emb_a: Any, emb_b: Any, target: Any, beta: float = 1.0) -> Any:
    """Per-pair cross-entropy of ``P(a beats b) = sigmoid(skew_score / beta)`` against ``target`` in [0, 1]."""
    t = torch()
    F = t.nn.functional
    positive("beta", beta)
    s = skew_score(emb_a, emb_b) / beta
    p = t.as_tensor(target, dtype=s.dtype, device=s.device)
    return -(p * F.logsigmoid(s) + (1 - p) * F.logsigmoid(-s))


@dataclass(frozen=True)
class GeneralPreferenceFit:
    """Item embeddings ``(n_items, dim)``, the win-probability matrix ``P[i, j] = P(i beats j)`` and the mean
    log-loss of the fitted model on the pairs (without the L2 penalty)."""

    embeddings: np.ndarray
    win_prob: np.ndarray
    loss: float


def fit_general_preference(
    a: np.ndarray,
    b: np.ndarray,
    p_a: np.ndarray,
    n_items: int,
    dim: int = 2,
    *,
    l2: float = 1e-3,
    seed: int = 0,
    max_iter: int = 500,
) -> GeneralPreferenceFit:
    """Fit item embeddings to pairwise outcomes ``p_a`` (1 = a won, 0 = b won, 0.5 = tie)."""
    t = torch()
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    p = np.asarray(p_a, np.float64)
    if not (len(a) == len(b) == len(p)):
        raise ValidationError("a, b and p_a must have the same length")
    if len(a) == 0:
        raise ValidationError("no pairs to fit")
    if dim < 2 or dim % 2:
        raise ValidationError(f"dim must be an even number >= 2, got {dim}")
    if np.isnan(p).any() or ((p < 0) | (p > 1)).any():
        raise ValidationError("p_a must hold outcomes in [0, 1] (no NaN)")
    if min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n_items:
        raise ValidationError(f"item codes must lie in [0, {n_items})")
    gen = t.Generator().manual_seed(seed)
    emb = (0.1 * t.randn(n_items, dim, generator=gen, dtype=t.float64)).requires_grad_(True)
    ta, tb, tp = t.as_tensor(a), t.as_tensor(b), t.as_tensor(p)
    opt = t.optim.LBFGS([emb], max_iter=max_iter, line_search_fn="strong_wolfe", tolerance_grad=1e-10)

    def closure() -> Any:
        opt.zero_grad()
        loss = general_preference_loss(emb[ta], emb[tb], tp).mean() + l2 * (emb**2).sum() / len(a)
        loss.backward()
        return loss

    opt.step(closure)
    with t.no_grad():
        e = emb.detach()
        loss = float(general_preference_loss(e[ta], e[tb], tp).mean())
        s = skew_score(e[:, None, :], e[None, :, :])
        win = t.sigmoid(s).numpy()
    return GeneralPreferenceFit(embeddings=e.numpy().copy(), win_prob=win, loss=loss)
