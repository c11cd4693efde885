"""Online Elo over a sequence of battles, and its bootstrap over resampled orderings.

After each battle ``(a, b)`` with score ``s`` (1 a won, 0 b won, 0.5 tie):
``E = 1 / (1 + base ** ((r_b - r_a) / scale))``, ``r_a += k (s - E)``, ``r_b -= k (s - E)``
(the FastChat ``compute_online_elo`` and evalica ``elo`` convention). Unlike Bradley-Terry the result depends
on the order of the battles; the bootstrap (as in FastChat) resamples battles with replacement, which also
shuffles their order, and reruns the updates. All rounds advance together, vectorised over rounds.
"""

from __future__ import annotations

import numpy as np

from prefkit.data.model import OUTCOME_A, OUTCOME_B
from prefkit.errors import DataProblemError, ValidationError


def _scores(outcome: np.ndarray, ties: str) -> tuple[np.ndarray, np.ndarray]:
    outcome = np.asarray(outcome, dtype=np.int64)
    s = np.where(outcome == OUTCOME_A, 1.0, np.where(outcome == OUTCOME_B, 0.0, 0.5))
    keep = np.ones(len(s), dtype=bool) if ties == "half" else outcome <= OUTCOME_B
    return s, keep


def _check(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, n_items: int, k: float, scale: float) -> None:
    if not (len(a) == len(b) == len(outcome)):
        raise ValidationError(f"a, b and outcome differ in length ({len(a)}, {len(b)}, {len(outcome)})")
    if len(a) == 0:
        raise DataProblemError("no battles to rate (the log is empty)")
    if n_items < 2:
        raise DataProblemError(f"need at least two items to rank, got {n_items}")
    if min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n_items:
        raise ValidationError(f"item codes must lie in 0..{n_items - 1}")
    if not (k > 0 and np.isfinite(k)):
        raise ValidationError(f"k must be a positive number, got {k}")
    if not (scale > 0 and np.isfinite(scale)):
        raise ValidationError(f"scale must be a positive number, got {scale}")


def elo_pairwise(
    a: np.ndarray,
    b: np.ndarray,
    outcome: np.ndarray,
    n_items: int,
    *,
    k: float = 4.0,
    base: float = 10.0,
    scale: float = 400.0,
    init: float = 1000.0,
    ties: str = "half",
) -> np.ndarray:
    """Online Elo ratings after processing the battles in the given order."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    _check(a, b, np.asarray(outcome), n_items, k, scale)
    s, keep = _scores(np.asarray(outcome), ties)
    r = [float(init)] * n_items
    lb = float(np.log(base)) / scale
    exp = np.exp
    for ia, ib, sc in zip(a[keep].tolist(), b[keep].tolist(), s[keep].tolist(), strict=True):
        ea = 1.0 / (1.0 + float(exp((r[ib] - r[ia]) * lb)))
        delta = k * (sc - ea)
        r[ia] += delta
        r[ib] -= delta
    return np.asarray(r)


def bootstrap_elo(
    a: np.ndarray,
    b: np.ndarray,
    outcome: np.ndarray,
    n_items: int,
    *,
    rounds: int = 100,
    rng: np.random.Generator,
    k: float = 4.0,
    base: float = 10.0,
    scale: float = 400.0,
    init: float = 1000.0,
    ties: str = "half",
    progress: object | None = None,
) -> np.ndarray:
    """``(rounds, n_items)`` Elo ratings, each on battles resampled with replacement (a new order each round)."""
    if rounds < 1:
        raise ValidationError(f"rounds must be >= 1, got {rounds}")
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    _check(a, b, np.asarray(outcome), n_items, k, scale)
    s, keep = _scores(np.asarray(outcome), ties)
    a, b, s = a[keep], b[keep], s[keep]
    n = len(a)
    if n == 0:
        raise DataProblemError("no decisive battles left after dropping ties")
    r = np.full((rounds, n_items), float(init))
    rows = np.arange(rounds)
    lb = np.log(base) / scale
    block = 2048
    for start in range(0, n, block):
        m = min(block, n - start)
        idx = rng.integers(0, n, size=(m, rounds))
        ab, bb, sb = a[idx], b[idx], s[idx]
        for t in range(m):
            ia, ib = ab[t], bb[t]
            ea = 1.0 / (1.0 + np.exp((r[rows, ib] - r[rows, ia]) * lb))
            delta = k * (sb[t] - ea)
            r[rows, ia] += delta
            r[rows, ib] -= delta
        if callable(progress):
            progress(m)
    return r
