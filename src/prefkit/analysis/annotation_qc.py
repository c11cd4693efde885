"""Quality control of an annotation campaign, per annotator: gold accuracy, time outliers, speed, agreement.

Pure functions over integer-coded arrays (one entry per answer); the web service codes its answers and shows
what these return.

* :func:`gold_accuracy`: per annotator, answers on gold (honeypot) tasks, how many matched the known answer, the
  share and its Wilson score interval (Wilson 1927; the interval that keeps its coverage for small counts and
  shares near 0 or 1, where the normal one does not).
* :func:`time_outliers`: per answer, the modified z-score of the log seconds spent on it (Iglewicz & Hoaglin
  1993: ``0.6745 (x - median) / MAD``, robust to the outliers it looks for), and flags ``too fast`` / ``too
  slow`` beyond ``threshold`` (3.5, their recommendation). Log seconds, because task times are right-skewed.
* :func:`annotator_speed`: per annotator, answers, median seconds per answer, and how many were flagged.
* Agreement per annotator is :func:`prefkit.analysis.annotators.agreement_with_others` (leave-one-out exact
  agreement on the same units).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from prefkit.errors import ValidationError

__all__ = ["GoldAccuracy", "Speed", "TimeFlags", "annotator_speed", "gold_accuracy", "time_outliers"]

MAD_SCALE = 0.6745
"""The standard normal's 0.75 quantile: ``0.6745 * (x - median) / MAD`` is a z-score for normal data."""


def _codes(annotator: np.ndarray, n_annotators: int) -> np.ndarray:
    j = np.asarray(annotator, dtype=np.int64)
    if j.size and (j.min() < 0 or j.max() >= n_annotators):
        raise ValidationError(f"annotator: codes must lie in 0..{n_annotators - 1}")
    return j


@dataclass(frozen=True, eq=False)
class GoldAccuracy:
    """Per annotator: gold answers ``n``, ``correct``, ``accuracy`` (nan without gold answers) and its Wilson
    interval ``[lower, upper]`` at ``level``."""

    n: np.ndarray
    correct: np.ndarray
    accuracy: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float


def wilson_interval(k: np.ndarray, n: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of ``k`` successes in ``n`` trials (nan where ``n`` is 0)."""
    if not 0 < level < 1:
        raise ValidationError(f"level: a probability in (0, 1), got {level}")
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    z = float(ndtri(0.5 + level / 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    hi = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return lo, hi


def gold_accuracy(
    annotator: np.ndarray, correct: np.ndarray, n_annotators: int, level: float = 0.95
) -> GoldAccuracy:
    """Accuracy on gold tasks per annotator: ``annotator[i]`` answered a gold task, ``correct[i]`` whether the
    answer matched the known one."""
    j = _codes(annotator, n_annotators)
    ok = np.asarray(correct, dtype=bool)
    if ok.shape != j.shape:
        raise ValidationError("annotator, correct: one entry per gold answer each")
    n = np.bincount(j, minlength=n_annotators)
    k = np.bincount(j, weights=ok.astype(np.float64), minlength=n_annotators).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    lo, hi = wilson_interval(k, n, level)
    return GoldAccuracy(n=n, correct=k, accuracy=acc, lower=lo, upper=hi, level=level)


@dataclass(frozen=True, eq=False)
class TimeFlags:
    """Per answer: the modified z-score of its log seconds (nan for an unknown time), and the flags."""

    z: np.ndarray
    fast: np.ndarray
    slow: np.ndarray
    median_seconds: float
    threshold: float


def time_outliers(seconds: np.ndarray, threshold: float = 3.5, min_answers: int = 5) -> TimeFlags:
    """Flag answers whose time is an outlier among all the campaign's answers: modified z-score of log seconds
    below ``-threshold`` (too fast) or above ``threshold`` (too slow). Unknown times (nan) are neither; with fewer
    than ``min_answers`` known times, or no spread (MAD 0), nothing is flagged."""
    if threshold <= 0 or min_answers < 2:
        raise ValidationError("threshold: positive; min_answers: at least 2")
    s = np.asarray(seconds, dtype=np.float64)
    if np.any(s[np.isfinite(s)] < 0):
        raise ValidationError("seconds: times cannot be negative")
    known = np.isfinite(s)
    z = np.full(s.shape, np.nan)
    med_s = float(np.median(s[known])) if known.any() else float("nan")
    if known.sum() >= min_answers:
        x = np.log(np.maximum(s[known], 1e-3))
        med = float(np.median(x))
        mad = float(np.median(np.abs(x - med)))
        if mad > 0:
            z[known] = MAD_SCALE * (x - med) / mad
    with np.errstate(invalid="ignore"):
        fast = np.nan_to_num(z, nan=0.0) < -threshold
        slow = np.nan_to_num(z, nan=0.0) > threshold
    return TimeFlags(z=z, fast=fast, slow=slow, median_seconds=med_s, threshold=threshold)


@dataclass(frozen=True, eq=False)
class Speed:
    """Per annotator: answers, answers with a known time, median seconds (nan without), flagged fast / slow."""

    n: np.ndarray
    timed: np.ndarray
    median_seconds: np.ndarray
    fast: np.ndarray
    slow: np.ndarray


def annotator_speed(
    annotator: np.ndarray, seconds: np.ndarray, n_annotators: int, flags: TimeFlags | None = None
) -> Speed:
    """Per annotator: how many answers, the median seconds per answer, and (with ``flags`` from
    :func:`time_outliers` on the same answers) how many were too fast / too slow."""
    j = _codes(annotator, n_annotators)
    s = np.asarray(seconds, dtype=np.float64)
    if s.shape != j.shape:
        raise ValidationError("annotator, seconds: one entry per answer each")
    known = np.isfinite(s)
    med = np.full(n_annotators, np.nan)
    for k in np.unique(j[known]).tolist():
        med[k] = float(np.median(s[known & (j == k)]))
    fast = np.zeros(n_annotators, np.int64)
    slow = np.zeros(n_annotators, np.int64)
    if flags is not None:
        if flags.fast.shape != j.shape:
            raise ValidationError("flags: computed on other answers")
        fast = np.bincount(j[flags.fast], minlength=n_annotators)
        slow = np.bincount(j[flags.slow], minlength=n_annotators)
    return Speed(
        n=np.bincount(j, minlength=n_annotators),
        timed=np.bincount(j[known], minlength=n_annotators),
        median_seconds=med,
        fast=fast,
        slow=slow,
    )
