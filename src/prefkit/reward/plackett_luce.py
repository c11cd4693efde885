"""Plackett-Luce listwise reward head for K-wise rankings (a pair is a ranking of two).

Rankings arrive CSR-style, like :class:`prefkit.data.model.RankingTable`: ranking r lists the rows
``members[offsets[r]:offsets[r+1]]`` of an embedding matrix best first, ``level`` giving tie groups.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prefkit.errors import ValidationError
from prefkit.reward.base import RewardHead, fit_lbfgs, tensor, torch_mod
from prefkit.reward.losses import pl_loss
from prefkit.reward.pairs import PairFeatures


def pad_rankings(
    offsets: np.ndarray, members: np.ndarray, level: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR rankings -> padded ``(R, K_max)`` arrays ``(member, level, mask)``."""
    offsets = np.asarray(offsets, dtype=np.int64)
    sizes = np.diff(offsets)
    if len(sizes) == 0:
        raise ValidationError("no rankings to train on: the input is empty")
    if (sizes < 2).any():
        r = int(np.flatnonzero(sizes < 2)[0])
        raise ValidationError(f"ranking {r} has {int(sizes[r])} member(s); a ranking needs at least 2")
    k = int(sizes.max())
    col = np.arange(len(members)) - np.repeat(offsets[:-1], sizes)
    row = np.repeat(np.arange(len(sizes)), sizes)
    mem = np.zeros((len(sizes), k), dtype=np.int64)
    lev = np.zeros((len(sizes), k), dtype=np.int64)
    mask = np.zeros((len(sizes), k), dtype=bool)
    mem[row, col], lev[row, col], mask[row, col] = members, level, True
    return mem, lev, mask


class PlackettLuceHead(RewardHead):
    """Linear reward ``r(x) = x . w`` trained with the Plackett-Luce listwise loss (+ ``l2 ||w||^2``)."""

    kind = "pl"

    def __init__(self, l2: float = 1e-2) -> None:
        self.l2 = l2

    def fit_rankings(
        self,
        X: np.ndarray,
        offsets: np.ndarray,
        members: np.ndarray,
        level: np.ndarray,
        weight: np.ndarray | None = None,
    ) -> PlackettLuceHead:
        """``X`` holds one embedding per ranked response; ``members`` index its rows.

        ``weight`` (one per ranking, default 1) weights each ranking's log-likelihood: a ranking given
        weight 2 counts as that ranking given twice.
        """
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValidationError(f"X must be an (n_responses, dim) array; got shape {X.shape}")
        if len(members) and (np.min(members) < 0 or np.max(members) >= len(X)):
            raise ValidationError("ranking members must index rows of X (0..len(X)-1)")
        mem, lev, mask = pad_rankings(offsets, members, level)
        w = None
        if weight is not None:
            w = np.asarray(weight, dtype=np.float64).reshape(-1)
            if len(w) != len(mem):
                raise ValidationError(
                    f"weight has {len(w)} entries for {len(mem)} rankings; give one per ranking"
                )
            if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
                raise ValidationError("ranking weights must be finite, non-negative and not all zero")
        torch = torch_mod()
        w_t = None if w is None else torch.from_numpy(w)
        Xt, mem_t, lev_t, mask_t = (
            tensor(X),
            torch.from_numpy(mem),
            torch.from_numpy(lev),
            torch.from_numpy(mask),
        )
        coef = torch.zeros(X.shape[1], requires_grad=True)

        def closure() -> Any:
            scores = (Xt @ coef)[mem_t].double()
            return pl_loss(scores, lev_t, mask_t, weight=w_t) + self.l2 * (coef @ coef).double()

        self.loss_ = fit_lbfgs([coef], closure)
        self.coef_ = coef.detach().numpy().copy()
        return self

    def fit(self, pairs: PairFeatures) -> PlackettLuceHead:
        """Pairs as rankings of two (Plackett-Luce with K = 2 is Bradley-Terry), weighted by ``pairs.weight``."""
        pairs.validate()
        n = len(pairs)
        X = np.empty((2 * n, pairs.dim), dtype=np.float32)
        X[0::2], X[1::2] = pairs.xc, pairs.xr
        return self.fit_rankings(
            X, np.arange(0, 2 * n + 1, 2), np.arange(2 * n), np.tile([0, 1], n), weight=pairs.weight
        )

    def reward(
        self,
        x: np.ndarray,
        ctx: np.ndarray | None = None,
        annotator: np.ndarray | None = None,
        verbosity: np.ndarray | None = None,
    ) -> np.ndarray:
        return np.asarray(x, dtype=np.float32) @ self.coef_
