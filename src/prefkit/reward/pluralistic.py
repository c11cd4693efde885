"""Pluralistic reward models: annotators who disagree are modelled, not averaged away.

* :class:`PALHead` (PAL, Chen et al. 2024): K prototype reward heads ``x . P[:, k]``; annotator u scores
  with the mixture ``x . P softmax(theta_u)``. A new annotator is fitted from a few pairs with the
  prototypes frozen (:meth:`PALHead.fit_annotator`).
* :class:`MaxMinHead` (MaxMin-RLHF, Chakraborty et al. 2024): hard EM over annotators with K Bradley-Terry
  heads; each annotator belongs to the group whose head explains their pairs best.

Unknown annotators (code -1) get the population reward: the average mixture (PAL) or the group-size
weighted average of the group heads (MaxMin). Group accuracy: :func:`prefkit.reward.evaluate.group_accuracy`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prefkit.errors import ValidationError
from prefkit.reward.base import RewardHead, fit_adam, fit_lbfgs, tensor, torch_mod
from prefkit.reward.bt import BradleyTerryHead
from prefkit.reward.losses import bt_loss
from prefkit.reward.pairs import PairFeatures


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _n_annotators(pairs: PairFeatures) -> int:
    return max(int(pairs.annotator.max()) + 1, len(pairs.annotator_names))


class PALHead(RewardHead):
    """K prototypes, each annotator a softmax mixture of them (PAL-B with linear prototypes)."""

    kind = "pal"
    needs_annotator = True

    def __init__(
        self, n_prototypes: int = 2, l2: float = 1e-3, epochs: int = 400, lr: float = 2e-2, seed: int = 0
    ) -> None:
        self.n_prototypes = n_prototypes
        self.l2 = l2
        self.epochs = epochs
        self.lr = lr
        self.seed = seed

    def fit(self, pairs: PairFeatures) -> PALHead:
        pairs.validate(need_annotator=True)
        if self.n_prototypes < 1:
            raise ValidationError(f"PALHead: n_prototypes must be >= 1; got {self.n_prototypes}")
        torch = torch_mod()
        rng = np.random.default_rng(self.seed)
        K, U = self.n_prototypes, _n_annotators(pairs)
        P = torch.tensor((rng.standard_normal((pairs.dim, K)) * 0.1).astype(np.float32), requires_grad=True)
        theta = torch.tensor((rng.standard_normal((U, K)) * 0.5).astype(np.float32), requires_grad=True)
        dx = tensor(pairs.xc - pairs.xr)
        ann = torch.from_numpy(pairs.annotator)
        w = tensor(pairs.weight)

        def step(idx: Any) -> Any:
            d, a, ww = (dx, ann, w) if idx is None else (dx[idx], ann[idx], w[idx])
            mix = torch.softmax(theta[a], dim=1)
            diff = ((d @ P) * mix).sum(1)
            return bt_loss(diff, torch.zeros_like(diff), weight=ww) + self.l2 * (P**2).sum()

        self.loss_ = fit_adam([P, theta], step, len(pairs), epochs=self.epochs, lr=self.lr, seed=self.seed)
        self.P_ = P.detach().numpy().copy()
        self.theta_ = theta.detach().numpy().copy()
        self.annotator_names_ = list(pairs.annotator_names)
        return self

    @property
    def annotator_weights_(self) -> np.ndarray:
        """``(n_annotators, K)`` mixture weights."""
        return _softmax(self.theta_)

    @property
    def assignment_(self) -> np.ndarray:
        """Each annotator's dominant prototype."""
        return np.argmax(self.theta_, axis=1)

    def fit_annotator(self, pairs: PairFeatures, l2: float = 1e-2) -> np.ndarray:
        """Mixture logits of a new annotator from their pairs, everything else frozen (also returned)."""
        pairs.validate()
        torch = torch_mod()
        theta = torch.zeros(self.n_prototypes, requires_grad=True)
        proj = tensor((pairs.xc - pairs.xr) @ self.P_)
        w = tensor(pairs.weight)

        def closure() -> Any:
            diff = proj @ torch.softmax(theta, dim=0)
            return bt_loss(diff, torch.zeros_like(diff), weight=w) + l2 * (theta**2).sum()

        fit_lbfgs([theta], closure, max_iter=100)
        return theta.detach().numpy().copy()

    def add_annotator(self, name: str, pairs: PairFeatures) -> int:
        """Fit a new annotator and append it; returns its code."""
        theta = self.fit_annotator(pairs)
        self.theta_ = np.vstack([self.theta_, theta[None].astype(np.float32)])
        self.annotator_names_ = [*self.annotator_names_, name]
        return len(self.theta_) - 1

    def reward(
        self,
        x: np.ndarray,
        ctx: np.ndarray | None = None,
        annotator: np.ndarray | None = None,
        verbosity: np.ndarray | None = None,
    ) -> np.ndarray:
        proto = np.asarray(x, dtype=np.float32) @ self.P_
        weights = self.annotator_weights_.astype(np.float32)
        mean = weights.mean(axis=0)
        if annotator is None:
            return proto @ mean
        a = np.asarray(annotator, dtype=np.int64)
        known = (a >= 0) & (a < len(weights))
        mix = np.where(known[:, None], weights[np.where(known, a, 0)], mean)
        return (proto * mix).sum(axis=1)


class MaxMinHead(RewardHead):
    """Hard-EM mixture of K linear Bradley-Terry heads over annotators (MaxMin-RLHF)."""

    kind = "maxmin"
    needs_annotator = True

    def __init__(
        self, n_groups: int = 2, l2: float = 1e-3, max_iter: int = 20, n_init: int = 4, seed: int = 0
    ) -> None:
        self.n_groups = n_groups
        self.l2 = l2
        self.max_iter = max_iter
        self.n_init = n_init
        self.seed = seed

    def _loglik(self, coefs: np.ndarray, dx: np.ndarray, ann: np.ndarray, U: int) -> np.ndarray:
        """``(U, K)`` log-likelihood of each annotator's pairs under each head."""
        d = dx @ coefs.T  # (n, K)
        ll = -np.logaddexp(0.0, -d.astype(np.float64))
        out = np.zeros((U, coefs.shape[0]))
        np.add.at(out, ann, ll)
        return out

    def _m_step(self, pairs: PairFeatures, assign: np.ndarray, coefs: np.ndarray) -> np.ndarray:
        for k in range(self.n_groups):
            rows = np.flatnonzero(assign[pairs.annotator] == k)
            if len(rows) == 0:
                continue
            head = BradleyTerryHead(l2=self.l2).fit(pairs.take(rows), init_coef=coefs[k])
            coefs[k] = head.coef_
        return coefs

    def fit(self, pairs: PairFeatures) -> MaxMinHead:
        pairs.validate(need_annotator=True)
        if self.n_groups < 1 or self.n_init < 1 or self.max_iter < 1:
            raise ValidationError("MaxMinHead: n_groups, n_init and max_iter must be >= 1")
        rng = np.random.default_rng(self.seed)
        U = _n_annotators(pairs)
        dx = pairs.xc - pairs.xr
        best: tuple[float, np.ndarray, np.ndarray] | None = None
        for _ in range(self.n_init):
            assign = rng.integers(0, self.n_groups, size=U)
            coefs = np.zeros((self.n_groups, pairs.dim), dtype=np.float32)
            for _ in range(self.max_iter):
                coefs = self._m_step(pairs, assign, coefs)
                new = np.argmax(self._loglik(coefs, dx, pairs.annotator, U), axis=1)
                if np.array_equal(new, assign):
                    break
                assign = new
            total = float(self._loglik(coefs, dx, pairs.annotator, U)[np.arange(U), assign].sum())
            if best is None or total > best[0]:
                best = (total, assign.copy(), coefs.copy())
        assert best is not None
        _, self.assignment_, self.coef_ = best
        sizes = np.bincount(self.assignment_, minlength=self.n_groups).astype(np.float32)
        self.group_weights_ = sizes / sizes.sum()
        self.annotator_names_ = list(pairs.annotator_names)
        return self

    def fit_annotator(self, pairs: PairFeatures) -> int:
        """The group whose head best explains a new annotator's pairs."""
        pairs.validate()
        d = (pairs.xc - pairs.xr) @ self.coef_.T
        return int(np.argmax((-np.logaddexp(0.0, -d.astype(np.float64))).sum(axis=0)))

    def add_annotator(self, name: str, pairs: PairFeatures) -> int:
        self.assignment_ = np.append(self.assignment_, self.fit_annotator(pairs))
        self.annotator_names_ = [*self.annotator_names_, name]
        return len(self.assignment_) - 1

    def group_rewards(self, x: np.ndarray) -> np.ndarray:
        """``(n, K)`` reward under each group's head (MaxMin-RLHF's policy maximises their minimum)."""
        return np.asarray(x, dtype=np.float32) @ self.coef_.T

    def reward(
        self,
        x: np.ndarray,
        ctx: np.ndarray | None = None,
        annotator: np.ndarray | None = None,
        verbosity: np.ndarray | None = None,
    ) -> np.ndarray:
        g = self.group_rewards(x)
        pop = g @ self.group_weights_
        if annotator is None:
            return pop
        a = np.asarray(annotator, dtype=np.int64)
        known = (a >= 0) & (a < len(self.assignment_))
        grp = self.assignment_[np.where(known, a, 0)]
        return np.where(known, g[np.arange(len(g)), grp], pop)
