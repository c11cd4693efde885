"""Judge the pairs of a dataset and turn the verdicts into ordinary prefkit judgments (annotator kind "model").

:func:`pair_tasks` collects the distinct ``(context, a, b)`` pairs of a dataset's pairwise judgments (a pair
judged by many people is judged once), with the prompt text and the two response texts; a pair whose texts
are missing or empty is an error naming its row. :func:`judge_dataset` runs a :class:`PairJudge` on them and
builds the verdict dataset: one pairwise judgment per decided pair, ``a`` shown first, the judge as a
"model" annotator, the texts kept. Unparsed and failed verdicts are not judgments: they are counted and listed
in the result (failed ones are retried by the next run; with a cache the rest cost nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from prefkit.annotation.rubric import ConstitutionJudge
from prefkit.annotation.types import FAILED, UNPARSED, PairJudge, PairTask, Verdict
from prefkit.data.index import ItemIndex
from prefkit.data.model import (
    DEFAULT_CRITERION,
    OUTCOME_A,
    OUTCOME_B,
    OUTCOME_TIE,
    Dataset,
    PairwiseTable,
    ResponseTable,
)
from prefkit.errors import InputError, ValidationError


@dataclass(frozen=True)
class Pairs:
    """Distinct pairs to judge: codes into the dataset's indexes, the tasks and each pair's first source row."""

    context: np.ndarray
    a: np.ndarray
    b: np.ndarray
    tasks: list[PairTask]
    skipped: list[tuple[int, str]] = field(default_factory=list)


def pair_tasks(
    ds: Dataset, *, limit: int | None = None, rows: Sequence[int] | None = None, skip_bad: bool = False
) -> Pairs:
    """The distinct pairs of ``ds.pairwise`` (in order of first appearance, at most ``limit``) as tasks.

    A pair without a prompt or with a missing or empty response raises ``InputError`` naming its row; with
    ``skip_bad`` it is left out and listed in ``Pairs.skipped`` as ``(line, reason)``.
    """
    pw = ds.pairwise
    if not len(pw):
        raise ValidationError("the data have no pairwise judgments to give the judge")
    idx = np.arange(len(pw)) if rows is None else np.asarray(rows, dtype=np.int64)
    texts = ds.responses.mapping()
    seen: set[tuple[int, int, int]] = set()
    cs, as_, bs, tasks = [], [], [], []
    src = ds.source or "<data>"
    skipped: list[tuple[int, str]] = []
    for i in idx.tolist():
        c, a, b = int(pw.context[i]), int(pw.a[i]), int(pw.b[i])
        key = (c, min(a, b), max(a, b))
        if key in seen:
            continue
        seen.add(key)
        line = int(pw.line[i])
        prompt = ds.context_text.get(ds.contexts.name(c)) if c >= 0 else None
        problem = None
        if prompt is None:
            problem = (
                "no prompt text for this pair; give a prompt column (or question_id with texts, or the llmfao "
                "prompts.jsonl) so that the judge knows the question"
            )
        pair_texts = []
        for code in (a, b):
            t = texts.get((c, code))
            name = ds.items.name(code)
            if t is None:
                problem = problem or (
                    f"no response text of {name!r} for this pair; give response_a/response_b (or the llmfao "
                    "results.jsonl) for every pair to judge"
                )
            elif not t.strip():
                problem = problem or (
                    f"the response of {name!r} is empty; drop the pair or fill in the text (a judge cannot "
                    "compare an empty answer meaningfully), or skip such pairs (--skip-bad)"
                )
            pair_texts.append(t or "")
        if problem is not None:
            if not skip_bad:
                raise InputError(problem, path=src, line=line)
            skipped.append((line, problem))
            continue
        assert prompt is not None
        tasks.append(PairTask(prompt, pair_texts[0], pair_texts[1], ds.items.name(a), ds.items.name(b), line))
        cs.append(c)
        as_.append(a)
        bs.append(b)
        if limit is not None and len(tasks) >= limit:
            break
    return Pairs(
        np.asarray(cs, np.int32), np.asarray(as_, np.int32), np.asarray(bs, np.int32), tasks, skipped
    )


@dataclass
class JudgeRun:
    """The verdict dataset, every verdict (in task order) and what could not be decided."""

    dataset: Dataset
    pairs: Pairs
    verdicts: list[Verdict]
    unparsed: list[int] = field(default_factory=list)  # source lines
    failed: list[int] = field(default_factory=list)

    @property
    def decided(self) -> int:
        return len(self.dataset.pairwise)

    @property
    def flipped(self) -> int:
        return sum(v.flipped for v in self.verdicts)


def judge_dataset(
    ds: Dataset,
    judge: PairJudge,
    *,
    limit: int | None = None,
    rows: Sequence[int] | None = None,
    skip_bad: bool = False,
) -> JudgeRun:
    """Judge the distinct pairs of ``ds`` with ``judge``; the verdicts as judgments of annotator ``judge.name``."""
    pairs = pair_tasks(ds, limit=limit, rows=rows, skip_bad=skip_bad)
    verdicts = judge.judge_pairs(pairs.tasks)
    if len(verdicts) != len(pairs.tasks):
        raise ValidationError(
            f"judge {judge.name!r} gave {len(verdicts)} verdicts for {len(pairs.tasks)} tasks"
        )
    ok = np.asarray([v.ok for v in verdicts], dtype=bool)
    pw = PairwiseTable.build(
        pairs.a[ok],
        pairs.b[ok],
        np.asarray([v.outcome for v in verdicts], dtype=np.int8)[ok],
        strength=np.asarray([v.strength for v in verdicts], dtype=np.float64)[ok],
        context=pairs.context[ok],
        rationale=pa.array([v.rationale for v, k in zip(verdicts, ok, strict=True) if k], pa.string()),
        line=np.asarray([t.row for t in pairs.tasks], dtype=np.int64)[ok],
    )
    flipped = np.asarray([v.flipped for v in verdicts], dtype=np.float64)[ok]
    out = _compact(ds, pw, judge.name, {"judge": judge.name, "flipped": flipped})
    lines = [t.row for t in pairs.tasks]
    return JudgeRun(
        dataset=out,
        pairs=pairs,
        verdicts=verdicts,
        unparsed=[ln for ln, v in zip(lines, verdicts, strict=True) if v.outcome == UNPARSED],
        failed=[ln for ln, v in zip(lines, verdicts, strict=True) if v.outcome == FAILED],
    )


def _compact(
    ds: Dataset, pw: PairwiseTable, judge: str, meta: dict[str, object], criteria: ItemIndex | None = None
) -> Dataset:
    """A dataset of the verdicts alone: only the items, contexts and texts they use, one model annotator."""
    items = ItemIndex()
    contexts = ItemIndex()
    a = np.asarray([items.add(ds.items.name(x)) for x in pw.a.tolist()], np.int32)
    b = np.asarray([items.add(ds.items.name(x)) for x in pw.b.tolist()], np.int32)
    c = np.asarray(
        [contexts.add(n) if n is not None else -1 for n in ds.contexts.decode(pw.context)], np.int32
    )
    r = ds.responses
    keep = [
        i
        for i, (rc, ri) in enumerate(zip(r.context.tolist(), r.item.tolist(), strict=True))
        if rc >= 0 and ds.contexts.name(rc) in contexts and ds.items.name(ri) in items
    ]
    kr = r.take(keep)
    responses = ResponseTable.build(
        contexts.encode(ds.contexts.decode(kr.context)), items.encode(ds.items.decode(kr.item)), kr.text
    )
    new_pw = PairwiseTable.build(
        a, b, pw.outcome, strength=pw.strength, context=c, annotator=np.zeros(len(pw), np.int32),
        rationale=pw.rationale, line=pw.line, criterion=pw.criterion,
    )  # fmt: skip
    return Dataset(
        items=items,
        contexts=contexts,
        annotators=ItemIndex([judge]),
        criteria=criteria if criteria is not None else ItemIndex([DEFAULT_CRITERION]),
        pairwise=new_pw,
        responses=responses,
        context_text={k: ds.context_text[k] for k in contexts.names if k in ds.context_text},
        annotator_kind={judge: "model"},
        meta=meta,
        source=ds.source,
    )


ORDER_LABELS = {OUTCOME_A: "model_a", OUTCOME_B: "model_b", OUTCOME_TIE: "tie"}


def verdict_table(run: JudgeRun) -> pa.Table:
    """The verdicts as an arena log (``judge``, ``judge_kind``, texts) plus ``flipped`` and, when both orders
    were asked, ``order1`` / ``order2``: each order's verdict in the row's model_a / model_b terms."""
    from prefkit.data.formats.arena import to_table

    t = to_table(run.dataset)
    decided = [v for v in run.verdicts if v.ok]
    t = t.append_column("flipped", pa.array([v.flipped for v in decided], pa.bool_()))
    if any("order1" in v.extra for v in decided):
        for key in ("order1", "order2"):
            labels = [ORDER_LABELS.get(int(v.extra[key])) if key in v.extra else None for v in decided]
            t = t.append_column(key, pa.array(labels, pa.string()))
    return t


def read_orders(path: str | Path, ds: Dataset) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``order1`` / ``order2`` columns of a verdict log, aligned with ``ds.pairwise`` (-1 where absent)."""
    from prefkit.data import _tabular

    container = _tabular.container_of(path)
    cols = _tabular.columns(path, container) or []
    if "order1" not in cols or "order2" not in cols:
        return None
    codes = {v: k for k, v in ORDER_LABELS.items()}
    by_line: dict[int, tuple[int, int]] = {}
    for line, rec in _tabular.rows(path, container):
        by_line[line] = (codes.get(str(rec.get("order1")), -1), codes.get(str(rec.get("order2")), -1))
    got = [by_line.get(int(ln), (-1, -1)) for ln in ds.pairwise.line.tolist()]
    return np.asarray([g[0] for g in got], np.int64), np.asarray([g[1] for g in got], np.int64)


def judge_principles(
    ds: Dataset, judge: ConstitutionJudge, *, name: str, limit: int | None = None
) -> Dataset:
    """A constitution judge's verdicts on the pairs of ``ds``: one pairwise judgment per (pair, principle),
    the principle as its criterion (kept separate, never summed); unparsed principles are left out."""
    pairs = pair_tasks(ds, limit=limit)
    per_task = judge.judge_principles(pairs.tasks)
    criteria = ItemIndex(list(judge.principles))
    rows = [(t, criteria.code(p), v) for t, d in enumerate(per_task) for p, v in d.items() if v.ok]
    idx = np.asarray([t for t, _, _ in rows], np.int64)
    pw = PairwiseTable.build(
        pairs.a[idx], pairs.b[idx], np.asarray([v.outcome for _, _, v in rows], np.int8), context=pairs.context[idx],
        criterion=np.asarray([c for _, c, _ in rows], np.int32),
        line=np.asarray([pairs.tasks[t].row for t in idx.tolist()], np.int64),
    )  # fmt: skip
    return _compact(ds, pw, name, {"judge": name}, criteria)
