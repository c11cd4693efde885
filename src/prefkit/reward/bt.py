"""Bradley-Terry reward heads on frozen embeddings: linear or a small MLP, and Scaled-BT.

``r(x) = x . w`` (linear) or ``r(x) = relu(x W1 + b1) . w2`` (MLP), trained with :func:`bt_loss` (margin,
per-pair weights, reward centring) or :func:`scaled_bt_loss` (preference strengths, HelpSteer2-Preference).
Linear heads use full-batch L-BFGS (the loss is convex with the L2 penalty); MLPs use Adam.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prefkit.errors import ValidationError
from prefkit.reward.base import RewardHead, fit_adam, fit_lbfgs, tensor, torch_mod
from prefkit.reward.losses import bt_loss, scaled_bt_loss
from prefkit.reward.pairs import PairFeatures


def init_mlp(dim: int, hidden: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "W1_": (rng.standard_normal((dim, hidden)) * np.sqrt(2.0 / dim)).astype(np.float32),
        "b1_": np.zeros(hidden, dtype=np.float32),
        "w2_": (rng.standard_normal(hidden) * np.sqrt(1.0 / hidden)).astype(np.float32),
    }


class BradleyTerryHead(RewardHead):
    """Bradley-Terry reward head.

    Parameters: ``hidden`` (0 = linear, else MLP width), ``l2`` (penalty on the weights, per pair),
    ``margin`` (a constant subtracted from every ``r_c - r_r``), ``strength_margin`` (add each pair's
    preference strength to its margin, as in Llama 2), ``centring`` (reward-centring coefficient),
    ``scaled`` (Scaled-BT: weight each pair by its strength 1..3; missing strengths count as 1), ``epochs``
    / ``lr`` (MLP training), ``seed``.
    """

    kind = "bt"
    coef_: np.ndarray
    W1_: np.ndarray
    b1_: np.ndarray
    w2_: np.ndarray

    def __init__(
        self,
        hidden: int = 0,
        l2: float = 1e-2,
        margin: float = 0.0,
        strength_margin: bool = False,
        centring: float = 0.0,
        scaled: bool = False,
        epochs: int = 200,
        lr: float = 3e-3,
        seed: int = 0,
    ) -> None:
        self.hidden = hidden
        self.l2 = l2
        self.margin = margin
        self.strength_margin = strength_margin
        self.centring = centring
        self.scaled = scaled
        self.epochs = epochs
        self.lr = lr
        self.seed = seed

    def _check_params(self) -> None:
        if self.hidden < 0 or self.l2 < 0 or self.centring < 0 or self.epochs < 1 or self.lr <= 0:
            raise ValidationError(
                "BradleyTerryHead: hidden, l2 and centring must be >= 0, epochs >= 1 and lr > 0 "
                f"(got hidden={self.hidden}, l2={self.l2}, centring={self.centring}, epochs={self.epochs}, lr={self.lr})"
            )

    def fit(self, pairs: PairFeatures, init_coef: np.ndarray | None = None) -> BradleyTerryHead:
        """Fit on ``pairs``; ``init_coef`` starts a linear head from given weights (e.g. a regression head)."""
        self._check_params()
        pairs.validate()
        torch = torch_mod()
        torch.manual_seed(self.seed)
        xc, xr = tensor(pairs.xc), tensor(pairs.xr)
        w = tensor(pairs.weight, torch.float64)
        s = np.nan_to_num(pairs.strength, nan=1.0 if self.scaled else 0.0)
        margin = self.margin + (s if self.strength_margin else 0.0)
        m = (
            tensor(np.broadcast_to(np.asarray(margin, dtype=np.float64), len(pairs)).copy(), torch.float64)
            if np.any(margin)
            else None
        )
        strength = tensor(s, torch.float64) if self.scaled else None

        def loss_of(rc: Any, rr: Any, idx: Any, reg: Any) -> Any:
            def sub(t: Any) -> Any:
                return t if idx is None or t is None else t[idx]

            if strength is not None:
                base = scaled_bt_loss(rc, rr, sub(strength), weight=sub(w), centring=self.centring)
            else:
                base = bt_loss(rc, rr, margin=sub(m), weight=sub(w), centring=self.centring)
            return base + self.l2 * reg

        if self.hidden == 0:
            start = (
                np.zeros(pairs.dim, np.float32) if init_coef is None else np.asarray(init_coef, np.float32)
            )
            if start.shape != (pairs.dim,):
                raise ValidationError(f"init_coef must have shape ({pairs.dim},); got {start.shape}")
            coef = torch.tensor(start.copy(), requires_grad=True)
            dc = xc - xr if strength is None and not self.centring else None

            def closure() -> Any:
                # products in float32, the loss in float64 (a smooth objective for the line search)
                if dc is not None:  # only the difference matters: one matrix product instead of two
                    d = (dc @ coef).double()
                    return loss_of(d, torch.zeros_like(d), None, (coef @ coef).double())
                return loss_of((xc @ coef).double(), (xr @ coef).double(), None, (coef @ coef).double())

            self.loss_ = fit_lbfgs([coef], closure)
            self.coef_ = coef.detach().numpy().copy()
        else:
            init = init_mlp(pairs.dim, self.hidden, self.seed)
            ps = {k: torch.tensor(v, requires_grad=True) for k, v in init.items()}

            def f(x: Any) -> Any:
                return torch.relu(x @ ps["W1_"] + ps["b1_"]) @ ps["w2_"]

            def step(idx: Any) -> Any:
                a, b = (xc, xr) if idx is None else (xc[idx], xr[idx])
                reg = (ps["W1_"] ** 2).sum() + (ps["w2_"] ** 2).sum()
                return loss_of(f(a), f(b), idx, reg)

            self.loss_ = fit_adam(
                list(ps.values()), step, len(pairs), epochs=self.epochs, lr=self.lr, seed=self.seed
            )
            for k, v in ps.items():
                setattr(self, k, v.detach().numpy().copy())
        self.dim_ = pairs.dim
        return self

    def reward(
        self,
        x: np.ndarray,
        ctx: np.ndarray | None = None,
        annotator: np.ndarray | None = None,
        verbosity: np.ndarray | None = None,
    ) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.hidden == 0:
            return x @ self.coef_
        h = np.maximum(x @ self.W1_ + self.b1_, 0.0)
        return h @ self.w2_


class ScaledBTHead(BradleyTerryHead):
    """Scaled Bradley-Terry (HelpSteer2-Preference) with its recipe: regression first, then Scaled-BT.

    With ``init="regression"`` a ridge regression head is fitted first (on the pairs' implied ratings, or on
    ``ratings`` given to :meth:`fit`) and the Scaled-BT head starts from its weights.
    """

    kind = "scaled-bt"

    def __init__(
        self,
        init: str = "regression",
        l2: float = 1e-2,
        centring: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__(hidden=0, l2=l2, centring=centring, scaled=True, seed=seed)
        self.init = init

    def get_params(self) -> dict[str, Any]:
        return {"init": self.init, "l2": self.l2, "centring": self.centring, "seed": self.seed}

    def fit(self, pairs: PairFeatures, init_coef: np.ndarray | None = None) -> ScaledBTHead:
        if self.init not in ("regression", "zero"):
            raise ValidationError(f"ScaledBTHead: init must be 'regression' or 'zero'; got {self.init!r}")
        if init_coef is None and self.init == "regression":
            from prefkit.reward.regression import RegressionHead

            pairs.validate()
            init_coef = RegressionHead(seed=self.seed).fit(pairs).coef_[:, 0]
        super().fit(pairs, init_coef=init_coef)
        return self
