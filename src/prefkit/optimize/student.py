"""Student-aligned pair selection (ARTE, Liu et al. 2024: "Aligning Teacher with Student Preferences").

A teacher proposes several candidate responses (demonstrations, rationales) per prompt; a student's *in-context
gain* scores each one: how much better the student does on held-out probes with the candidate in its context
than without it. Candidates that help the student most become ``chosen``, those that help least ``rejected``,
and DPO on these pairs tailors the teacher to the student. The student is any object with the
:class:`StudentGain` signature (a real model scoring probes, or a scripted one in a test); this module imports
no backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from prefkit.errors import DataProblemError, ValidationError
from prefkit.optimize import pairs as P
from prefkit.optimize.groups import ScoredGroups


class StudentGain(Protocol):
    """``gain(prompts, candidates)`` -> the student's in-context gain of each (prompt, candidate) pair."""

    def __call__(self, prompts: Sequence[str], candidates: Sequence[str]) -> Any: ...


@dataclass(frozen=True)
class StudentPairs:
    """Preference rows ranked by the student's gain margin (largest first), and every candidate's gain."""

    rows: list[dict[str, Any]]
    gains: list[np.ndarray]
    skipped: int


def student_aligned_pairs(
    prompts: Sequence[str],
    candidates: Sequence[Sequence[str]],
    gain: StudentGain,
    *,
    min_margin: float = 0.0,
    top: int | None = None,
) -> StudentPairs:
    """Best-versus-worst pairs by student gain, kept when the gain margin exceeds ``min_margin``.

    ``top`` keeps only the ``top`` pairs with the largest margins (the most informative for the student).
    """
    if len(prompts) != len(candidates):
        raise ValidationError(f"{len(prompts)} prompts but {len(candidates)} candidate lists")
    flat_p = [p for p, cs in zip(prompts, candidates, strict=True) for _ in cs]
    flat_c = [c for cs in candidates for c in cs]
    g = np.asarray(gain(flat_p, flat_c), dtype=np.float64).reshape(-1)
    if len(g) != len(flat_c):
        raise ValidationError(f"the student returned {len(g)} gains for {len(flat_c)} candidates")
    if not np.all(np.isfinite(g)):
        raise DataProblemError("the student returned a NaN or infinite gain; fix the student's scoring")
    groups = ScoredGroups.from_lists(
        [
            g[s : s + len(cs)].tolist()
            for s, cs in zip(np.cumsum([0] + [len(c) for c in candidates])[:-1], candidates, strict=True)
        ]
    )
    p = P.best_vs_worst(groups, min_margin)
    order = np.argsort(-p.gap, kind="stable")[: top if top is not None else None]
    rows = [
        {
            "prompt": prompts[int(p.group[i])],
            "chosen": flat_c[int(p.chosen[i])],
            "rejected": flat_c[int(p.rejected[i])],
            "gain_margin": float(p.gap[i]),
        }
        for i in order.tolist()
    ]
    gains = [g[groups.offsets[i] : groups.offsets[i + 1]] for i in range(len(groups))]
    return StudentPairs(rows, gains, len(groups) - len(p))
