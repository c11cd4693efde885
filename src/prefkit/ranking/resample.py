"""Bootstrap weights for count tables: multinomial or Poisson reweighting of the cells, vectorised over rounds.

Resampling ``N`` battles with replacement is the same as drawing the cell counts from a multinomial. The
Poisson bootstrap (each cell ~ Poisson(count), independently) is its standard large-sample equivalent and is
much cheaper to draw; it is the default. Poisson variates are drawn by inverting each cell's CDF table with one
uniform per draw (exact up to the CDF's 1e-16 tail).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from prefkit.errors import ValidationError

RESAMPLING = ("poisson", "multinomial")
_TABLE_MAX = 2000.0  # cells with larger counts use numpy's Poisson sampler


class PoissonSampler:
    """Independent Poisson(count) draws for fixed cells; the CDF tables are built once and reused."""

    def __init__(self, counts: np.ndarray) -> None:
        counts = np.asarray(counts, dtype=np.float64).reshape(-1)
        self.counts = counts
        self.small = np.flatnonzero((counts > 0) & (counts <= _TABLE_MAX))
        self.big = np.flatnonzero(counts > _TABLE_MAX)
        lam = counts[self.small]
        size = np.ceil(lam + 12.0 * np.sqrt(lam) + 12.0).astype(np.int64)
        start = np.zeros(len(lam) + 1, dtype=np.int64)
        np.cumsum(size, out=start[1:])
        cell = np.repeat(np.arange(len(lam)), size)
        k = np.arange(start[-1]) - start[cell]
        cdf = np.exp(k * np.log(lam[cell]) - lam[cell] - gammaln(k + 1.0))
        np.cumsum(cdf, out=cdf)
        base = np.concatenate([[0.0], cdf[start[1:-1] - 1]]) if len(lam) else np.zeros(0)
        cdf -= base[cell]
        self.tables = [cdf[start[c] : start[c + 1]] for c in range(len(lam))]

    def draw(self, rounds: int, rng: np.random.Generator, dtype: type = np.float64) -> np.ndarray:
        """``(rounds, n_cells)`` draws."""
        out: np.ndarray = np.zeros((len(self.counts), rounds), dtype=dtype)
        if len(self.small):
            u = rng.random((len(self.small), rounds))
            for c, table in enumerate(self.tables):
                out[self.small[c]] = np.searchsorted(table, u[c], side="right")
        if len(self.big):
            out[self.big] = rng.poisson(self.counts[self.big], size=(rounds, len(self.big))).T
        return out.T


def poisson_weights(counts: np.ndarray, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """``(rounds, len(counts))`` independent Poisson(count) draws."""
    return PoissonSampler(counts).draw(rounds, rng)


def resample_counts(
    counts: np.ndarray, rounds: int, rng: np.random.Generator, method: str = "poisson"
) -> np.ndarray:
    """``(rounds, len(counts))`` bootstrap counts for the cells ``counts`` (which may be weighted).

    ``method="multinomial"`` keeps the total fixed (exactly resampling battles); it needs integer counts.
    """
    if method not in RESAMPLING:
        raise ValidationError(f"resampling must be one of {RESAMPLING}, got {method!r}")
    if rounds < 1:
        raise ValidationError(f"rounds must be >= 1, got {rounds}")
    counts = np.asarray(counts, dtype=np.float64).reshape(-1)
    if method == "multinomial":
        total = counts.sum()
        if not np.allclose(counts, np.round(counts)) or total <= 0:
            raise ValidationError("multinomial resampling needs integer counts; use method='poisson'")
        return rng.multinomial(int(round(total)), counts / total, size=rounds).astype(np.float64)
    return poisson_weights(counts, rounds, rng)
