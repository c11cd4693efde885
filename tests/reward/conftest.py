"""Synthetic preference data with a planted reward, shared by the reward tests."""

from __future__ import annotations

import numpy as np
import pytest

from prefkit.reward.pairs import PairFeatures


def planted_pairs(
    n: int = 600, d: int = 8, *, seed: int = 0, scale: float = 3.0, ctx_dim: int = 0
) -> tuple[PairFeatures, np.ndarray]:
    """Pairs drawn from a Bradley-Terry model with reward ``x . w``: returns (pairs, w)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    w *= scale / np.linalg.norm(w)
    x1 = rng.standard_normal((n, d))
    x2 = rng.standard_normal((n, d))
    p = 1 / (1 + np.exp(-(x1 - x2) @ w))
    first = rng.random(n) < p
    xc = np.where(first[:, None], x1, x2)
    xr = np.where(first[:, None], x2, x1)
    ctx = rng.standard_normal((n, ctx_dim)) if ctx_dim else None
    return PairFeatures(xc, xr, ctx=ctx), w


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    """One torch thread: the tiny synthetic fits gain nothing from more on a shared machine."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)
