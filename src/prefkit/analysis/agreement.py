"""Inter-annotator agreement: Fleiss' kappa and Krippendorff's alpha as pure array functions.

* :func:`fleiss_kappa` takes a subjects x categories count matrix (every subject rated by the same number
  of raters), as in Fleiss (1971).
* :func:`krippendorff_alpha` takes a coders x units reliability matrix with ``nan`` for missing values and
  a level of measurement (nominal, ordinal, interval, ratio), as in Krippendorff (2011), "Computing
  Krippendorff's Alpha-Reliability". It is computed from the coincidence matrix, so any number of coders
  and missing values are allowed.
* :func:`counts_from_labels` and :func:`reliability_matrix` build those inputs from long-format
  ``(subject, rater, label)`` integer columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from prefkit.errors import DataProblemError, ValidationError

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")


def fleiss_kappa(counts: np.ndarray | Sequence[Sequence[float]]) -> float:
    """Fleiss' kappa of a ``(n_subjects, n_categories)`` matrix of rater counts.

    ``counts[i, j]`` is how many raters put subject ``i`` in category ``j``; every row must sum to the same
    number of raters ``n >= 2``. Returns ``(P_bar - P_e) / (1 - P_e)``.
    """
    x = np.asarray(counts, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValidationError("counts: expected a 2-D (subjects x categories) matrix with at least one row")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise ValidationError("counts: entries must be finite non-negative rater counts")
    n = x.sum(axis=1)
    if not np.allclose(n, n[0]):
        raise ValidationError(
            "counts: every subject must be rated by the same number of raters (rows sum to "
            f"{sorted(set(n.tolist()))[:5]}); keep only subjects with a complete set of ratings, or use "
            "krippendorff_alpha, which allows missing ratings"
        )
    n_raters = n[0]
    if n_raters < 2:
        raise ValidationError("counts: Fleiss' kappa needs at least 2 raters per subject")
    p_j = x.sum(axis=0) / x.sum()
    p_i = ((x * x).sum(axis=1) - n_raters) / (n_raters * (n_raters - 1))
    p_bar = float(p_i.mean())
    p_e = float((p_j * p_j).sum())
    if np.isclose(p_e, 1.0):
        raise DataProblemError(
            "Fleiss' kappa is undefined when every rating falls in one category (expected agreement is 1)"
        )
    return (p_bar - p_e) / (1.0 - p_e)


def krippendorff_alpha(
    reliability_data: np.ndarray | Sequence[Sequence[float]], level: Level | str = "nominal"
) -> float:
    """Krippendorff's alpha of a ``(n_coders, n_units)`` matrix of values, ``nan`` where missing.

    ``level`` is the metric: ``"nominal"`` (categories), ``"ordinal"`` (ranks), ``"interval"`` or ``"ratio"``.
    Units with fewer than two values are not pairable and are ignored.
    """
    if level not in LEVELS:
        raise ValidationError(f"level: expected one of {', '.join(LEVELS)}, got {level!r}")
    data = np.asarray(reliability_data, dtype=np.float64)
    if data.ndim != 2:
        raise ValidationError("reliability_data: expected a 2-D (coders x units) matrix, nan for missing")
    if np.any(np.isinf(data)):
        raise ValidationError("reliability_data: values must be finite (use nan for a missing value)")
    values = np.unique(data[~np.isnan(data)])
    if level == "ratio" and values.size and values.min() < 0:
        raise ValidationError("reliability_data: ratio level needs non-negative values")
    # value_counts[u, v]: how many coders gave unit u the value values[v]
    value_counts = (
        np.stack([(data == v).sum(axis=0) for v in values], axis=1) if values.size else np.zeros((0, 0))
    )
    m_u = value_counts.sum(axis=1) if values.size else np.zeros(0)
    pairable = m_u >= 2
    if not np.any(pairable):
        raise DataProblemError("Krippendorff's alpha needs at least one unit coded by two or more coders")
    vc = value_counts[pairable].astype(np.float64)
    m = m_u[pairable].astype(np.float64)
    coincidence = np.einsum("uc,uk->ck", vc / (m - 1.0)[:, None], vc) - np.diag(
        (vc / (m - 1.0)[:, None]).sum(axis=0)
    )
    n_c = coincidence.sum(axis=1)
    n_total = n_c.sum()
    delta2 = _distance_matrix(values, n_c, level)
    observed = (coincidence * delta2).sum()
    expected = (np.outer(n_c, n_c) * delta2).sum() / (n_total - 1.0)
    if expected <= 0:
        raise DataProblemError("Krippendorff's alpha is undefined when all pairable values are equal")
    return float(1.0 - observed / expected)


def _distance_matrix(values: np.ndarray, n_c: np.ndarray, level: str) -> np.ndarray:
    c, k = values[:, None], values[None, :]
    if level == "nominal":
        return (c != k).astype(np.float64)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        s = c + k
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.where(s == 0, 0.0, (c - k) / np.where(s == 0, 1.0, s))
        return d**2
    # ordinal: (sum of n_g for g between c and k) - (n_c + n_k) / 2, squared
    cum = np.concatenate([[0.0], np.cumsum(n_c)])
    i, j = np.meshgrid(np.arange(values.size), np.arange(values.size), indexing="ij")
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    between = cum[hi + 1] - cum[lo]
    return (between - (n_c[i] + n_c[j]) / 2.0) ** 2


def counts_from_labels(
    subject: np.ndarray, label: np.ndarray, n_subjects: int, n_categories: int
) -> np.ndarray:
    """The ``(n_subjects, n_categories)`` count matrix of long-format integer ``(subject, label)`` columns."""
    s = np.asarray(subject, dtype=np.int64)
    lab = np.asarray(label, dtype=np.int64)
    if s.shape != lab.shape:
        raise ValidationError("subject, label: must have the same length")
    if s.size and (s.min() < 0 or s.max() >= n_subjects or lab.min() < 0 or lab.max() >= n_categories):
        raise ValidationError("subject, label: codes must lie in 0..n_subjects-1 and 0..n_categories-1")
    out = np.zeros((n_subjects, n_categories), dtype=np.int64)
    np.add.at(out, (s, lab), 1)
    return out


def reliability_matrix(
    unit: np.ndarray, coder: np.ndarray, value: np.ndarray, n_units: int, n_coders: int
) -> np.ndarray:
    """The ``(n_coders, n_units)`` matrix of long-format ``(unit, coder, value)`` columns, ``nan`` where missing.

    A coder who coded one unit twice keeps the last value.
    """
    u = np.asarray(unit, dtype=np.int64)
    c = np.asarray(coder, dtype=np.int64)
    v = np.asarray(value, dtype=np.float64)
    if not (u.shape == c.shape == v.shape):
        raise ValidationError("unit, coder, value: must have the same length")
    if u.size and (u.min() < 0 or u.max() >= n_units or c.min() < 0 or c.max() >= n_coders):
        raise ValidationError("unit, coder: codes must lie in 0..n_units-1 and 0..n_coders-1")
    out = np.full((n_coders, n_units), np.nan)
    out[c, u] = v
    return out
