"""What every reward head shares: parameters / learned state for persistence, pair margins, torch fitting."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from prefkit._optional import require
from prefkit.reward.pairs import PairFeatures


class RewardHead:
    """Base class: a head maps response embeddings (and optionally prompt / annotator) to rewards.

    Subclasses define ``kind``, ``fit(pairs) -> self`` and ``reward(x, ctx=None, annotator=None,
    verbosity=None)``. Learned numpy arrays end in ``_`` and are what a saved model stores.
    """

    kind = "base"
    needs_ctx = False
    needs_annotator = False
    needs_text = False  # True: ``reward`` takes the rendered texts (an object array), not embeddings

    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self"}

    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, JSON-able learned values) of the fitted head."""
        arrays, other = {}, {}
        for k, v in vars(self).items():
            if not k.endswith("_") or k.startswith("_"):
                continue
            if isinstance(v, np.ndarray):
                arrays[k] = v
            else:
                other[k] = v
        return arrays, other

    @classmethod
    def from_state(
        cls, params: dict[str, Any], arrays: dict[str, np.ndarray], other: dict[str, Any]
    ) -> RewardHead:
        head = cls(**params)
        for k, v in {**other, **arrays}.items():
            setattr(head, k, v)
        return head

    def fit(self, pairs: PairFeatures) -> RewardHead:
        raise NotImplementedError

    def reward(
        self,
        x: np.ndarray,
        ctx: np.ndarray | None = None,
        annotator: np.ndarray | None = None,
        verbosity: np.ndarray | None = None,
    ) -> np.ndarray:
        raise NotImplementedError

    def margins(self, pairs: PairFeatures) -> np.ndarray:
        """``r(chosen) - r(rejected)`` for every pair."""
        vc, vr = pairs.verbosity
        rc = self.reward(pairs.xc, pairs.ctx, pairs.annotator, vc)
        rr = self.reward(pairs.xr, pairs.ctx, pairs.annotator, vr)
        return np.asarray(rc, dtype=np.float64) - np.asarray(rr, dtype=np.float64)


def torch_mod() -> Any:
    return require("torch")


def tensor(x: np.ndarray | None, dtype: Any = None) -> Any:
    torch = torch_mod()
    if x is None:
        return None
    return torch.from_numpy(np.ascontiguousarray(x)).to(dtype or torch.float32)


def _flat(params: list[Any]) -> np.ndarray:
    return np.concatenate([p.detach().reshape(-1).double().numpy() for p in params])


def fit_lbfgs(
    params: list[Any], loss_fn: Callable[[], Any], *, max_iter: int = 200, tol: float = 1e-6
) -> float:
    """Full-batch L-BFGS (scipy's L-BFGS-B, gradients by torch autograd) of ``loss_fn()`` over ``params``.

    scipy drives the iterations, which avoids the one-time start-up cost of ``torch.optim`` (seconds).
    Returns the final loss; ``params`` hold the solution.
    """
    from scipy.optimize import minimize

    torch = torch_mod()
    sizes = [p.numel() for p in params]

    def assign(x: np.ndarray) -> None:
        with torch.no_grad():
            off = 0
            for p, k in zip(params, sizes, strict=True):
                p.copy_(torch.from_numpy(x[off : off + k]).view_as(p))
                off += k

    def f(x: np.ndarray) -> tuple[float, np.ndarray]:
        assign(x)
        for p in params:
            p.grad = None
        loss = loss_fn()
        loss.backward()
        grad = np.concatenate([p.grad.reshape(-1).double().numpy() for p in params])
        return float(loss.detach()), grad

    res = minimize(
        f,
        _flat(params),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-12, "maxcor": 20},
    )
    assign(res.x)
    return float(res.fun)


def fit_adam(
    params: list[Any],
    loss_fn: Callable[[Any], Any],
    n: int,
    *,
    epochs: int = 100,
    lr: float = 1e-2,
    batch_size: int | None = None,
    seed: int = 0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> float:
    """Adam over ``epochs`` passes; ``loss_fn(idx)`` gets a LongTensor of pair indices (None = all).

    A plain implementation (no ``torch.optim``: its one-time start-up costs seconds).
    """
    torch = torch_mod()
    gen = torch.Generator().manual_seed(seed)
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    b1, b2 = betas
    bs = n if batch_size is None or batch_size >= n else batch_size
    step = 0
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen) if bs < n else None
        for lo in range(0, n, bs):
            idx = perm[lo : lo + bs] if perm is not None else None
            for p in params:
                p.grad = None
            loss_fn(idx).backward()
            step += 1
            with torch.no_grad():
                for p, mi, vi in zip(params, m, v, strict=True):
                    g = p.grad
                    mi.mul_(b1).add_(g, alpha=1 - b1)
                    vi.mul_(b2).addcmul_(g, g, value=1 - b2)
                    denom = (vi / (1 - b2**step)).sqrt_().add_(eps)
                    p.addcdiv_(mi, denom, value=-lr / (1 - b1**step))
    with torch.no_grad():
        return float(loss_fn(None))
