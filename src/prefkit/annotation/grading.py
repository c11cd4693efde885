"""Absolute grading (MT-Bench single-v1 1-10, Prometheus 1-5): one score per (prompt, answer) as a rating.

:func:`grade_dataset` grades the response texts of a dataset (every ``(context, item)`` with a text, or the
first ``limit``) and returns the scores as a ratings table of annotator ``grader.name`` (kind "model") on the
pack's scale. Unparsed answers are listed, never scored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from prefkit.annotation.prompts import GradePack
from prefkit.annotation.runner import ChatRunner
from prefkit.annotation.types import ChatRequest
from prefkit.data.index import ItemIndex
from prefkit.data.model import Dataset, RatingTable
from prefkit.errors import BackendError, ValidationError


@dataclass(frozen=True)
class Grade:
    score: float  # NaN: unparsed or failed
    raw: str
    failed: bool = False


class LLMGrader:
    """Scores from ``runner``'s backend with grading pack ``pack``."""

    def __init__(
        self, runner: ChatRunner, pack: GradePack, *, name: str | None = None, temperature: float = 0.0
    ):
        self.runner, self.pack = runner, pack
        self.name = name or runner.backend.key
        self.temperature = temperature

    def grade(self, tasks: Sequence[tuple[str, str]]) -> list[Grade]:
        reqs = [
            ChatRequest(
                self.pack.messages(q, a), max_tokens=self.pack.max_tokens, temperature=self.temperature
            )
            for q, a in tasks
        ]
        out = []
        for r in self.runner.run(reqs):
            if isinstance(r, BackendError):
                out.append(Grade(math.nan, str(r), failed=True))
            else:
                out.append(Grade(self.pack.parse(r.text), r.text))
        return out


@dataclass
class GradeRun:
    dataset: Dataset
    grades: list[Grade]
    unparsed: list[tuple[str, str]] = field(default_factory=list)  # (context, item)
    failed: list[tuple[str, str]] = field(default_factory=list)


def grade_dataset(ds: Dataset, grader: LLMGrader, *, limit: int | None = None) -> GradeRun:
    r = ds.responses
    keys = [
        (c, i, t)
        for c, i, t in zip(r.context.tolist(), r.item.tolist(), r.text.to_pylist(), strict=True)
        if c >= 0 and t and t.strip() and ds.contexts.name(c) in ds.context_text
    ][:limit]
    if not keys:
        raise ValidationError("no (prompt, response) texts to grade: the data carry no response texts")
    grades = grader.grade([(ds.context_text[ds.contexts.name(c)], t) for c, _, t in keys])
    ok = [k for k, g in zip(keys, grades, strict=True) if not math.isnan(g.score)]
    items, contexts = ItemIndex(), ItemIndex()
    n = len(ok)
    ratings = RatingTable.build(
        np.asarray([items.add(ds.items.name(i)) for _, i, _ in ok], np.int32),
        [g.score for g in grades if not math.isnan(g.score)],
        np.full(n, grader.pack.lo),
        np.full(n, grader.pack.hi),
        context=[contexts.add(ds.contexts.name(c)) for c, _, _ in ok],
        annotator=np.zeros(n, np.int32),
    )
    out = Dataset(
        items=items,
        contexts=contexts,
        annotators=ItemIndex([grader.name]),
        ratings=ratings,
        context_text={k: ds.context_text[k] for k in contexts.names},
        annotator_kind={grader.name: "model"},
        source=ds.source,
    )
    names = [(ds.contexts.name(c), ds.items.name(i)) for c, i, _ in keys]
    return GradeRun(
        out,
        grades,
        unparsed=[k for k, g in zip(names, grades, strict=True) if math.isnan(g.score) and not g.failed],
        failed=[k for k, g in zip(names, grades, strict=True) if g.failed],
    )
