"""From judgments to the inputs of the agreement statistics: who coded what, on which unit.

Pure functions over the columnar judgment tables of :mod:`prefkit.data.model` (one criterion or attribute at
a time), each returning long-format :class:`Codings`; :func:`agreement_of` then computes Krippendorff's alpha
(all codings, missing allowed) and Fleiss' kappa (subjects judged by the same number of annotators).

* pairwise: a unit is an unordered pair of items in a context; the value is its outcome seen from the pair's
  lower item code (a, b, tie, both bad: nominal). Fleiss: the same units and values.
* rankings: a unit is an item in a context; the value is its rank (tie group, 0 = best: ordinal). Fleiss: one
  subject per context; the category is which of the context's items was put first (the items of a context
  numbered in code order; with a tie for first, the one listed first).
* ratings: a unit is an item in a context (per attribute); the value is its score (interval). Fleiss: the same
  units, each distinct score a category.

Coders are annotators (their codes); a unit coded twice by one annotator keeps the last value for alpha.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prefkit.analysis.agreement import (
    counts_from_labels,
    fleiss_kappa,
    krippendorff_alpha,
    reliability_matrix,
)
from prefkit.data.model import OUTCOME_A, OUTCOME_B, PairwiseTable, RankingTable, RatingTable
from prefkit.errors import DataProblemError, ValidationError

__all__ = [
    "Agreement",
    "Codings",
    "agreement_of",
    "pairwise_codings",
    "ranking_codings",
    "rating_codings",
]


@dataclass(frozen=True, eq=False)
class Codings:
    """Long-format codings (``unit``, ``coder``, ``value`` per coding) at a level of measurement, and the
    categorical choices (``subject``, ``label``) that Fleiss' kappa counts. Codes are ``0..n-1``."""

    unit: np.ndarray
    coder: np.ndarray
    value: np.ndarray
    n_units: int
    n_coders: int
    level: str
    subject: np.ndarray
    label: np.ndarray
    n_subjects: int
    n_categories: int
    n_judgments: int

    def reliability(self) -> np.ndarray:
        """The ``(n_coders, n_units)`` reliability matrix, ``nan`` where a coder did not code a unit."""
        return reliability_matrix(self.unit, self.coder, self.value, self.n_units, self.n_coders)


@dataclass(frozen=True)
class Agreement:
    """Agreement of one set of codings: alpha over every coding, kappa over the complete subjects."""

    level: str
    n_units: int
    n_judgments: int
    alpha: float | None
    kappa: float | None
    kappa_subjects: int
    notes: tuple[str, ...] = ()


def _codes(*keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense codes ``0..n-1`` of the rows of ``keys`` (in sorted key order) and ``n``."""
    if not len(keys[0]):
        return np.zeros(0, np.int64), 0
    stacked = np.stack([np.asarray(k, dtype=np.int64) for k in keys], axis=1)
    uniq, inv = np.unique(stacked, axis=0, return_inverse=True)
    return inv.reshape(-1).astype(np.int64), len(uniq)


def _check_codes(name: str, x: np.ndarray) -> None:
    if x.size and x.min() < 0:
        raise ValidationError(
            f"{name}: every judgment needs a known {name} (code >= 0, got {int(x.min())}); "
            "give each judgment its context and annotator"
        )


def pairwise_codings(pw: PairwiseTable) -> Codings:
    """Codings of pairwise judgments (see the module doc)."""
    _check_codes("context", pw.context)
    _check_codes("annotator", pw.annotator)
    a, b = np.asarray(pw.a, np.int64), np.asarray(pw.b, np.int64)
    if np.any(a == b):
        raise ValidationError("pairwise: a judgment compares an item with itself; drop those rows")
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    out = np.asarray(pw.outcome, np.int64)
    turned = np.where(
        a > b, np.where(out == OUTCOME_A, OUTCOME_B, np.where(out == OUTCOME_B, OUTCOME_A, out)), out
    )
    unit, n_units = _codes(pw.context, lo, hi)
    coder, n_coders = _codes(pw.annotator)
    return Codings(
        unit=unit,
        coder=coder,
        value=turned.astype(np.float64),
        n_units=n_units,
        n_coders=n_coders,
        level="nominal",
        subject=unit,
        label=turned,
        n_subjects=n_units,
        n_categories=4,
        n_judgments=len(pw),
    )


def ranking_codings(rk: RankingTable) -> Codings:
    """Codings of K-wise rankings (see the module doc)."""
    _check_codes("context", rk.context)
    _check_codes("annotator", rk.annotator)
    sizes = np.diff(rk.offsets)
    if np.any(sizes < 1):
        raise ValidationError("rankings: every ranking needs at least one item")
    row = np.repeat(np.arange(len(sizes)), sizes)
    ctx = np.asarray(rk.context, np.int64)[row]
    members = np.asarray(rk.members, np.int64)
    unit, n_units = _codes(ctx, members)
    coder, n_coders = _codes(np.asarray(rk.annotator, np.int64)[row])
    # the rank of each member: how many distinct levels of its ranking are better (0 = best group)
    level = np.asarray(rk.level, np.int64)
    _, dense = np.unique(np.stack([row, level], axis=1), axis=0, return_inverse=True)
    dense = dense.reshape(-1)
    first = np.full(len(sizes), np.iinfo(np.int64).max)
    np.minimum.at(first, row, dense)
    rank = dense - first[row]
    # Fleiss: per ranking, which of its context's items is first (items of a context numbered in code order)
    subject, n_subjects = _codes(np.asarray(rk.context, np.int64))
    ctx_first_unit = np.full(n_subjects, np.iinfo(np.int64).max)
    np.minimum.at(ctx_first_unit, subject[row], unit)
    local = unit - ctx_first_unit[subject[row]]
    best = np.lexsort((np.arange(len(row)), level, row))  # per ranking, best level first, then member order
    top = best[np.cumsum(sizes) - sizes]
    label = local[top]
    n_categories = int(local.max()) + 1 if local.size else 1
    return Codings(
        unit=unit,
        coder=coder,
        value=rank.astype(np.float64),
        n_units=n_units,
        n_coders=n_coders,
        level="ordinal",
        subject=subject,
        label=label,
        n_subjects=n_subjects,
        n_categories=n_categories,
        n_judgments=len(sizes),
    )


def rating_codings(rt: RatingTable) -> Codings:
    """Codings of ratings on one attribute (see the module doc)."""
    _check_codes("context", rt.context)
    _check_codes("annotator", rt.annotator)
    score = np.asarray(rt.score, np.float64)
    if not np.all(np.isfinite(score)):
        raise ValidationError("ratings: scores must be finite numbers; drop the rows without a score")
    unit, n_units = _codes(rt.context, rt.item)
    coder, n_coders = _codes(rt.annotator)
    cats, label = np.unique(score, return_inverse=True)
    _, n_judgments = _codes(rt.context, rt.annotator)
    return Codings(
        unit=unit,
        coder=coder,
        value=score,
        n_units=n_units,
        n_coders=n_coders,
        level="interval",
        subject=unit,
        label=label.reshape(-1).astype(np.int64),
        n_subjects=n_units,
        n_categories=max(len(cats), 1),
        n_judgments=n_judgments,
    )


def agreement_of(codings: Codings, raters: int | None = None) -> Agreement:
    """Krippendorff's alpha of every coding and Fleiss' kappa of the subjects with exactly ``raters`` choices
    (default: the most common number); a statistic the data cannot support is None, with a note saying why."""
    if raters is not None and raters < 1:
        raise ValidationError(f"raters: a number of annotators per subject >= 1, got {raters}")
    notes: list[str] = []
    alpha = kappa = None
    if codings.unit.size:
        try:
            alpha = krippendorff_alpha(codings.reliability(), codings.level)
        except DataProblemError as exc:
            notes.append(str(exc))
    per_subject = np.bincount(codings.subject, minlength=codings.n_subjects)
    if raters is None:
        counts = per_subject[per_subject > 0]
        raters = int(np.bincount(counts).argmax()) if counts.size else 0
    full = np.flatnonzero(per_subject == raters)
    if full.size and raters >= 2:
        keep = np.isin(codings.subject, full)
        subject = np.searchsorted(full, codings.subject[keep])
        try:
            kappa = fleiss_kappa(
                counts_from_labels(subject, codings.label[keep], full.size, codings.n_categories)
            )
        except (DataProblemError, ValidationError) as exc:
            notes.append(str(exc))
    return Agreement(
        level=codings.level,
        n_units=codings.n_units,
        n_judgments=codings.n_judgments,
        alpha=alpha,
        kappa=kappa,
        kappa_subjects=int(full.size),
        notes=tuple(notes),
    )
