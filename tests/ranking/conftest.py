"""Shared helpers of the ranking tests: simulation from known strengths and the FastChat oracle."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from prefkit.ranking.ties import outcome_probabilities


def simulate(
    theta: np.ndarray,
    n_battles: int,
    rng: np.random.Generator,
    *,
    model: str = "bt",
    eta: float | None = None,
    tie_rate: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Battles between uniformly drawn pairs; outcomes drawn from ``model`` (bt: ties at random ``tie_rate``)."""
    n = len(theta)
    a = rng.integers(0, n, n_battles)
    b = rng.integers(0, n - 1, n_battles)
    b = b + (b >= a)
    d = theta[a] - theta[b]
    u = rng.random(n_battles)
    if model == "bt":
        p = 1.0 / (1.0 + np.exp(-d))
        out = np.where(u < p, 0, 1)
        out = np.where(rng.random(n_battles) < tie_rate, 2, out)
    else:
        P = outcome_probabilities(model, d, eta)
        out = np.where(u < P[0], 0, np.where(u < P[0] + P[1], 1, 2))
    return a, b, out


@pytest.fixture(scope="session")
def sim():
    return simulate


@pytest.fixture(scope="session")
def fastchat(require_peer):
    require_peer("sklearn")  # FastChat fits its Bradley-Terry with scikit-learn
    require_peer("pandas")
    path = Path(__file__).with_name("fastchat_oracle.py")
    spec = importlib.util.spec_from_file_location("fastchat_oracle", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
