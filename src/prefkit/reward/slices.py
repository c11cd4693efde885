"""Accuracy and calibration per slice of the pairs (annotator group, criterion, annotator) and the worst slice
(MaxMin-RLHF's worst-group figure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from prefkit.errors import ValidationError
from prefkit.reward.calibration import reliability
from prefkit.reward.evaluate import accuracy_strict

__all__ = ["BY", "Slice", "SliceReport", "evaluate_slices", "group_labels"]

BY = ("group", "criterion", "annotator", "condition")
NO_GROUP = "(no group)"


@dataclass(frozen=True)
class Slice:
    name: str
    n: int
    accuracy: float
    ece: float


@dataclass(frozen=True)
class SliceReport:
    by: str
    slices: tuple[Slice, ...]
    worst: Slice

    def to_dict(self) -> dict[str, object]:
        return {"by": self.by, "slices": [vars(s) for s in self.slices], "worst": vars(self.worst)}


def evaluate_slices(
    margins: np.ndarray, codes: np.ndarray, names: Sequence[str], *, by: str, temperature: float = 1.0
) -> SliceReport:
    """Strict accuracy and ECE (at ``temperature``) of the pairs of each code (``-1`` = left out), and the
    slice with the lowest accuracy."""
    m, c = np.asarray(margins, dtype=np.float64), np.asarray(codes)
    out = []
    for k in np.unique(c[c >= 0]):
        mk = m[c == k]
        out.append(Slice(names[int(k)], len(mk), accuracy_strict(mk), reliability(mk, temperature).ece))
    if not out:
        raise ValidationError(f"--by {by}: no pair belongs to any {by}")
    return SliceReport(by, tuple(out), min(out, key=lambda s: s.accuracy))


def group_labels(
    annotator_names: Sequence[str], groups: Mapping[str, Mapping[str, str]], attribute: str | None
) -> tuple[list[str], list[str]]:
    """Each annotator's group label: the value of ``attribute`` or, without one, all its attributes
    (``k=v,k=v``); returns (labels per annotator, sorted distinct labels). An unknown attribute lists the
    known ones."""
    known = sorted({k for g in groups.values() for k in g})
    if attribute is not None and attribute not in known:
        raise ValidationError(
            f"--by group:{attribute}: unknown annotator attribute; known: {', '.join(known) or '(none)'}"
        )
    labels = []
    for a in annotator_names:
        g = groups.get(a, {})
        if attribute is not None:
            labels.append(str(g[attribute]) if attribute in g else NO_GROUP)
        else:
            labels.append(",".join(f"{k}={g[k]}" for k in sorted(g)) or NO_GROUP)
    return labels, sorted(set(labels))
