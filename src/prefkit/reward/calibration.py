"""Calibration of pairwise probabilities ``P(chosen > rejected) = sigmoid(margin / T)``.

Temperature scaling (Guo et al. 2017) fits one ``T`` by minimising the NLL (exactly: the NLL is convex in
``1 / T``, so the search is unbounded and only truly degenerate data give no estimate); the calibration errors use the
confidence ``max(p, 1 - p)`` against whether the predicted side was right: ECE (equal-width bins, weighted
by bin size), ACE (equal-mass bins) and MCE (the worst equal-width bin).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import expit

from prefkit.errors import ValidationError


def pair_nll(margins: np.ndarray, temperature: float = 1.0) -> float:
    """Mean ``-log sigmoid(margin / T)`` (margins are ``r_chosen - r_rejected``)."""
    m = np.asarray(margins, dtype=np.float64) / temperature
    return float(np.logaddexp(0.0, -m).mean())


def inverse_temperature(margins: np.ndarray) -> float:
    """The exact minimiser ``s = 1 / T >= 0`` of :func:`pair_nll`, on an unbounded range.

    The NLL ``mean log(1 + exp(-s m))`` is convex in ``s`` with derivative ``g(s) = -mean(m sigmoid(-s m))``,
    ``g(0) = -mean(m) / 2``, and ``g(s) -> mean over wrong pairs of |m|`` as ``s -> inf``. So: if no pair is
    ranked wrong (and one is ranked right), the minimum is at ``s = inf`` (``T -> 0``); if ``mean(m) <= 0``
    it is at ``s = 0`` (``T -> inf``: no signal); otherwise ``g`` has one root, found by bracketing and
    Brent's method. Those two cases are the only degenerate ones.
    """
    from scipy.optimize import brentq

    m = np.asarray(margins, dtype=np.float64)
    m = m[m != 0]
    if len(m) == 0 or m.mean() <= 0:
        return 0.0
    if not np.any(m < 0):
        return float("inf")

    def g(si: float) -> float:
        return float(-(m * expit(-si * m)).mean())

    hi = 1.0 / float(np.abs(m).max())
    while g(hi) < 0:
        hi *= 2.0
    return float(brentq(g, 0.0, hi, xtol=1e-12 * hi, rtol=1e-12, maxiter=500))


def fit_temperature(margins: np.ndarray, *, bounds: tuple[float, float] = (1e-2, 1e2)) -> float:
    """The ``T`` that minimises :func:`pair_nll` (exact, any positive value); ``bounds`` are returned only in the
    degenerate cases of :func:`inverse_temperature` (lower: every pair right; upper: no signal)."""
    m = np.asarray(margins, dtype=np.float64)
    if len(m) == 0:
        raise ValidationError("temperature scaling needs at least one pair")
    s_ = inverse_temperature(m)
    if s_ == 0.0:
        return float(bounds[1])
    if np.isinf(s_):
        return float(bounds[0])
    return 1.0 / s_


@dataclass(frozen=True)
class TemperatureFit:
    """The temperature used for probabilities, and whether it is an estimate.

    ``status``: ``"fitted"`` (the minimum of the NLL over all ``T > 0``: an estimate), ``"at_bound"`` (the NLL keeps
    falling as ``T -> 0`` or ``T -> inf``, the only degenerate cases: no estimate, ``value`` is a stand-in bound
    used only so that probabilities stay defined) or
    ``"not_fitted"`` (too few held-out pairs: ``value`` is 1). :attr:`estimate` is ``None`` unless fitted.
    """

    value: float
    status: str
    n_pairs: int
    bound: str | None = None

    @property
    def estimate(self) -> float | None:
        return self.value if self.status == "fitted" else None

    @property
    def note(self) -> str:
        if self.status == "fitted":
            return f"fitted on {self.n_pairs} held-out pairs"
        if self.status == "not_fitted":
            return f"not fitted: {self.n_pairs} held-out pairs, too few to calibrate (T = 1 used)"
        if self.bound == "upper":
            return (
                f"at the upper bound {self.value:g}, a stand-in for T -> inf ({self.n_pairs} held-out pairs): the held-out NLL "
                "keeps falling as T grows, i.e. the margins carry no calibrated signal (probabilities near 0.5)"
            )
        return (
            f"at the lower bound {self.value:g}, a stand-in for T -> 0 ({self.n_pairs} held-out pairs): every held-out pair "
            "is ranked right, so the NLL keeps falling as T shrinks (probabilities near 0 or 1)"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "temperature": self.estimate,
            "temperature_status": self.status,
            "temperature_note": self.note,
        }


def calibrate_temperature(
    margins: np.ndarray, *, bounds: tuple[float, float] = (1e-2, 1e2), min_pairs: int = 1
) -> TemperatureFit:
    """The exact temperature (:func:`inverse_temperature`), saying whether it is an estimate or degenerate;
    ``bounds`` are the stand-in values of the degenerate cases, not limits of the search."""
    m = np.asarray(margins, dtype=np.float64)
    if len(m) < max(min_pairs, 1):
        return TemperatureFit(1.0, "not_fitted", len(m))
    s_ = inverse_temperature(m)
    if np.isinf(s_):
        return TemperatureFit(float(bounds[0]), "at_bound", len(m), "lower")
    if s_ == 0.0:
        return TemperatureFit(float(bounds[1]), "at_bound", len(m), "upper")
    return TemperatureFit(1.0 / s_, "fitted", len(m))


@dataclass(frozen=True)
class Reliability:
    """Per-bin confidence, accuracy and count, with ECE / ACE / MCE."""

    bin_confidence: np.ndarray
    bin_accuracy: np.ndarray
    bin_count: np.ndarray
    ece: float
    ace: float
    mce: float


def _bins(
    conf: np.ndarray, correct: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    idx = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, len(edges) - 2)
    cnt = np.bincount(idx, minlength=len(edges) - 1).astype(np.float64)
    safe = np.where(cnt > 0, cnt, 1.0)
    c = np.bincount(idx, weights=conf, minlength=len(edges) - 1) / safe
    a = np.bincount(idx, weights=correct, minlength=len(edges) - 1) / safe
    return c, a, cnt


def reliability(margins: np.ndarray, temperature: float = 1.0, n_bins: int = 10) -> Reliability:
    """Calibration errors of the pairwise probabilities (ties of the margin count as wrong)."""
    m = np.asarray(margins, dtype=np.float64)
    if len(m) == 0:
        raise ValidationError("calibration needs at least one pair")
    if n_bins < 1:
        raise ValidationError(f"n_bins must be >= 1; got {n_bins}")
    p = expit(m / temperature)
    conf = np.maximum(p, 1 - p)
    correct = (m > 0).astype(np.float64)
    edges = np.linspace(0.5, 1.0, n_bins + 1)
    c, a, cnt = _bins(conf, correct, edges)
    gaps = np.abs(c - a)
    ece = float((gaps * cnt).sum() / cnt.sum())
    mce = float(gaps[cnt > 0].max())
    q = np.quantile(conf, np.linspace(0, 1, n_bins + 1))
    q[0], q[-1] = -np.inf, np.inf
    ca, aa, cnta = _bins(conf, correct, q)
    ace = float((np.abs(ca - aa) * (cnta > 0)).sum() / max(int((cnta > 0).sum()), 1))
    return Reliability(c, a, cnt, ece, ace, mce)


def reliability_diagram(rel: Reliability, path: str | Path, title: str = "Reliability") -> Path:
    """Write a reliability diagram (accuracy vs confidence per bin, with the diagonal) as a PNG."""
    from prefkit._optional import require

    mpl = require("matplotlib")
    mpl.use("Agg")
    plt = require("matplotlib.pyplot")
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    used = rel.bin_count > 0
    width = 0.5 / len(rel.bin_count)
    centres = np.linspace(0.5 + width / 2, 1 - width / 2, len(rel.bin_count))
    ax.bar(centres[used], rel.bin_accuracy[used], width=width * 0.9, color="#4477aa", label="accuracy")
    ax.plot([0.5, 1], [0.5, 1], "k--", lw=1, label="perfect calibration")
    ax.set_xlim(0.5, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title} (ECE {rel.ece:.3f})")
    ax.legend(loc="upper left")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
