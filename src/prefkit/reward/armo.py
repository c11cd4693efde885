"""Multi-objective reward with a gating network (ArmoRM, Wang et al. 2024).

Attribute rewards ``r_k(y) = x(y) . W[:, k]`` come either from ridge regressions on attribute ratings (fixed,
ArmoRM's stage 1) or are learned. Each is de-correlated from verbosity: ``r_k' = r_k - lambda_k (v - mean v)``
with ``lambda_k = Cov(r_k, v) / Var(v)`` over the training responses (``v`` = log response length), which
makes ``Corr(r_k', v) = 0`` exactly on the training data. A gating MLP on the prompt embedding gives
per-prompt attribute weights ``g(x)`` (a softmax), and ``r = beta * sum_k g_k r_k'`` is trained with the
Bradley-Terry loss. :meth:`ArmoHead.attribute_weights` exposes the weights for inspection.

The gate has its own penalty ``gate_l2`` (the attribute weights ``W`` keep ``l2``). A gate penalised as hard as
the attribute weights collapses to a prompt-blind constant; by default (``gate_l2=None``) it is chosen by
validation: each value of ``gate_l2_grid`` is fitted on 80% of the pairs (a seeded split) and scored by the
Bradley-Terry loss on the other 20%; the best one is refitted on all pairs (``gate_l2_``, and
``gate_validation_`` holds the held-out loss of every value).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from prefkit.errors import ValidationError
from prefkit.reward.base import RewardHead, fit_adam, tensor, torch_mod
from prefkit.reward.losses import bt_loss
from prefkit.reward.pairs import PairFeatures


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class ArmoHead(RewardHead):
    """Attribute rewards + verbosity de-correlation + a gating network on the prompt embedding."""

    kind = "armo"
    needs_ctx = True

    def __init__(
        self,
        n_attributes: int = 4,
        gate_hidden: int = 16,
        decorrelate: bool = True,
        l2: float = 3e-2,
        gate_l2: float | None = None,
        gate_l2_grid: Sequence[float] = (3e-2, 3e-3, 3e-4, 3e-5),
        epochs: int = 200,
        lr: float = 3e-3,
        batch_size: int = 4096,
        seed: int = 0,
    ) -> None:
        self.n_attributes = n_attributes
        self.gate_hidden = gate_hidden
        self.decorrelate = decorrelate
        self.l2 = l2
        self.gate_l2 = gate_l2
        self.gate_l2_grid = tuple(float(g) for g in gate_l2_grid)
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.seed = seed

    def fit(
        self,
        pairs: PairFeatures,
        attribute_coef: np.ndarray | None = None,
        attribute_names: Sequence[str] | None = None,
    ) -> ArmoHead:
        """Fit the gate (and the attribute heads unless ``attribute_coef`` ``(dim, K)`` fixes them)."""
        pairs.validate(need_ctx=True)
        if self.n_attributes < 1 or self.gate_hidden < 1:
            raise ValidationError("ArmoHead: n_attributes and gate_hidden must be >= 1")
        grid = (self.gate_l2,) if self.gate_l2 is not None else self.gate_l2_grid
        if not grid or any(not np.isfinite(g) or g < 0 for g in grid):
            raise ValidationError(f"ArmoHead: gate_l2 values must be finite and >= 0, got {grid}")
        self.gate_validation_: dict[str, float] = {}
        if len(grid) > 1 and len(pairs) >= 20:
            perm = np.random.default_rng(self.seed).permutation(len(pairs))
            cut = int(0.8 * len(pairs))
            train, val = pairs.take(np.sort(perm[:cut])), pairs.take(np.sort(perm[cut:]))
            for g in grid:
                self._fit_once(train, g, attribute_coef, attribute_names)
                m = self.margins(val)
                loss = float(np.sum(val.weight * np.logaddexp(0.0, -m)) / np.sum(val.weight))
                self.gate_validation_[repr(g)] = loss
            best = min(self.gate_validation_, key=lambda k: self.gate_validation_[k])
            chosen = float(best)
        else:
            chosen = float(grid[0])
        self._fit_once(pairs, chosen, attribute_coef, attribute_names)
        self.gate_l2_ = chosen
        return self

    def _fit_once(
        self,
        pairs: PairFeatures,
        gate_l2: float,
        attribute_coef: np.ndarray | None,
        attribute_names: Sequence[str] | None,
    ) -> None:
        torch = torch_mod()
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        d, dc = pairs.dim, pairs.ctx.shape[1]  # type: ignore[union-attr]
        fixed = attribute_coef is not None
        if fixed:
            W0 = np.asarray(attribute_coef, dtype=np.float32)
            if W0.ndim != 2 or W0.shape[0] != d:
                raise ValidationError(f"attribute_coef must have shape ({d}, n_attributes); got {W0.shape}")
        else:
            W0 = (rng.standard_normal((d, self.n_attributes)) * 0.01).astype(np.float32)
        K = W0.shape[1]
        self.attribute_names_ = list(attribute_names) if attribute_names else [f"attr{k}" for k in range(K)]
        vc, vr = pairs.verbosity
        v_all = np.concatenate([vc, vr])
        x_all = np.concatenate([pairs.xc, pairs.xr]).astype(np.float64)
        v_mean, v_var = float(v_all.mean()), float(v_all.var())
        use_dec = self.decorrelate and v_var > 1e-12
        cxv = (
            ((x_all - x_all.mean(0)).T @ (v_all - v_mean) / len(v_all)).astype(np.float32)
            if use_dec
            else None
        )

        W = torch.tensor(W0, requires_grad=not fixed)
        G1 = torch.tensor(
            (rng.standard_normal((dc, self.gate_hidden)) * np.sqrt(2.0 / dc)).astype(np.float32),
            requires_grad=True,
        )
        g1 = torch.zeros(self.gate_hidden, requires_grad=True)
        G2 = torch.zeros((self.gate_hidden, K), requires_grad=True)
        g2 = torch.zeros(K, requires_grad=True)
        log_beta = torch.zeros((), requires_grad=True)
        xc, xr, ctx, w = tensor(pairs.xc), tensor(pairs.xr), tensor(pairs.ctx), tensor(pairs.weight)
        dvc, dvr = tensor(vc - v_mean), tensor(vr - v_mean)
        cxv_t = tensor(cxv) if cxv is not None else None

        def step(idx: Any) -> Any:
            def sub(t: Any) -> Any:
                return t if idx is None else t[idx]

            lam = (W.T @ cxv_t) / v_var if cxv_t is not None else torch.zeros(K)
            gate = torch.softmax(torch.relu(sub(ctx) @ G1 + g1) @ G2 + g2, dim=1)
            rc = sub(xc) @ W - sub(dvc)[:, None] * lam
            rr = sub(xr) @ W - sub(dvr)[:, None] * lam
            beta = torch.exp(log_beta)
            loss = bt_loss(beta * (gate * rc).sum(1), beta * (gate * rr).sum(1), weight=sub(w))
            gate_reg = (G1**2).sum() + (G2**2).sum()
            return loss + gate_l2 * gate_reg + (self.l2 * (W**2).sum() if not fixed else 0.0)

        params = [G1, g1, G2, g2, log_beta] + ([] if fixed else [W])
        self.loss_ = fit_adam(
            params,
            step,
            len(pairs),
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            seed=self.seed,
        )
        with torch.no_grad():
            lam = (W.T @ cxv_t) / v_var if cxv_t is not None else torch.zeros(K)
        self.W_ = W.detach().numpy().copy()
        self.lambda_ = lam.detach().numpy().astype(np.float32).copy()
        self.v_mean_ = v_mean
        self.G1_, self.g1_ = G1.detach().numpy().copy(), g1.detach().numpy().copy()
        self.G2_, self.g2_ = G2.detach().numpy().copy(), g2.detach().numpy().copy()
        self.beta_ = float(np.exp(log_beta.item()))

    def attribute_weights(self, ctx: np.ndarray) -> np.ndarray:
        """``(n, K)`` gating weights of the attributes for each prompt embedding."""
        h = np.maximum(np.asarray(ctx, dtype=np.float32) @ self.G1_ + self.g1_, 0.0)
        return _softmax(h @ self.G2_ + self.g2_)

    def attribute_rewards(self, x: np.ndarray, verbosity: np.ndarray | None = None) -> np.ndarray:
        """``(n, K)`` de-correlated attribute rewards (verbosity = log(1 + length); None = the mean)."""
        r = np.asarray(x, dtype=np.float32) @ self.W_
        if verbosity is not None:
            r = (
                r
                - (np.asarray(verbosity, dtype=np.float32) - np.float32(self.v_mean_))[:, None] * self.lambda_
            )
        return r

    def reward(
        self,
        x: np.ndarray,
        ctx: np.ndarray | None = None,
        annotator: np.ndarray | None = None,
        verbosity: np.ndarray | None = None,
    ) -> np.ndarray:
        if ctx is None:
            raise ValidationError("the armo head needs prompt embeddings (ctx) to weight its attributes")
        g = self.attribute_weights(ctx)
        return np.float32(self.beta_) * (g * self.attribute_rewards(x, verbosity)).sum(axis=1)
