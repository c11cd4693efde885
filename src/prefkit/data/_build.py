"""Row-by-row construction of Dataset chunks, with the checks every format shares.

A reader parses records and calls :meth:`Builder.pair` / :meth:`Builder.ranking` / :meth:`Builder.rating`
with names; the builder encodes names into the shared indexes, checks each row (self-comparison, duplicate ids,
rating scale, ranking size) and either raises ``FILE:LINE`` (strict) or records the row in ``skipped``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from prefkit.data.model import (
    DEFAULT_CRITERION,
    Dataset,
    PairwiseTable,
    RankingTable,
    RatingTable,
    ResponseTable,
)
from prefkit.errors import LENIENT_HINT, InputError


@dataclass
class Context:
    """Where we read from and what to do with bad rows."""

    path: str | Path
    strict: bool = True
    skipped: list[tuple[int, str]] = field(default_factory=list)
    seen_ids: dict[str, int] = field(default_factory=dict)

    def problem(self, line: int, message: str) -> None:
        """Strict: raise ``FILE:LINE: message``; lenient: remember the row as skipped."""
        if self.strict:
            raise InputError(
                message + LENIENT_HINT,
                path=self.path,
                line=line,
            )
        self.skipped.append((line, message))

    def report(self, line: int, message: str) -> None:
        """Skip a row that is well-formed but cannot be used as is, in strict mode too (listed, never guessed)."""
        self.skipped.append((line, message))

    def check_id(self, ident: str | None, line: int) -> bool:
        if ident is None:
            return True
        first = self.seen_ids.get(ident)
        if first is not None:
            self.problem(
                line,
                f"judgment id {ident!r} appears twice (first on line {first}); give each judgment a unique id "
                "or drop the duplicate",
            )
            return False
        self.seen_ids[ident] = line
        return True


def rating_problem(score: float, lo: float, hi: float) -> str | None:
    """The message for a bad rating, or None when it is fine."""
    if math.isnan(lo) or math.isnan(hi) or lo >= hi:
        return (
            f'the rating scale [{lo}, {hi}] is not a valid interval; declare "scale": [lo, hi] with lo < hi'
        )
    if math.isnan(score):
        return f"the rating score is NaN; give a number within the scale [{lo:g}, {hi:g}] or drop the row"
    if not lo <= score <= hi:
        return f"rating {score:g} is outside the scale [{lo:g}, {hi:g}]; fix the score or declare the right scale"
    return None


class Builder:
    """Accumulates rows as Python lists and flushes them into a Dataset chunk sharing ``template``'s indexes."""

    def __init__(self, template: Dataset, ctx: Context) -> None:
        self.t = template
        self.ctx = ctx
        self.seen_responses: dict[tuple[int, int], tuple[str, int]] = {}
        self._reset()

    def _reset(self) -> None:
        self.p: dict[str, list[Any]] = {k: [] for k in _PAIR_COLS}
        self.r: dict[str, list[Any]] = {k: [] for k in _RANK_COLS}
        self.s: dict[str, list[Any]] = {k: [] for k in _RATE_COLS}
        self.x: dict[str, list[float]] = {}
        self.resp: dict[str, list[Any]] = {"context": [], "item": [], "text": []}

    def __len__(self) -> int:
        return len(self.p["a"]) + len(self.r["groups"]) + len(self.s["item"])

    def extra(self, key: str, value: float) -> None:
        """A per-pairwise-row number kept in ``meta[key]`` (e.g. ``tstamp``); call after a successful pair()."""
        col = self.x.setdefault(key, [])
        col.extend([math.nan] * (len(self.p["a"]) - 1 - len(col)))
        col.append(value)

    def response(self, context: str | None, item: str, text: str, *, line: int) -> bool:
        """Record ``item``'s response text in ``context``; a different text for the same pair is a problem."""
        c = self._code(self.t.contexts, context)
        i = self.t.items.add(item)
        seen = self.seen_responses.get((c, i))
        if seen is not None:
            if seen[0] != text:
                where = f"context {context!r}" if context is not None else "no context"
                self.ctx.problem(
                    line,
                    f"item {item!r} already has a different response in {where} (line {seen[1]}); give each "
                    "answer its own question_id (or prompt) so that every (prompt, model) pair has one text",
                )
                return False
            return True
        self.seen_responses[(c, i)] = (text, line)
        self.resp["context"].append(c)
        self.resp["item"].append(i)
        self.resp["text"].append(text)
        return True

    def _code(self, index: Any, name: str | None) -> int:
        return -1 if name is None else index.add(name)

    def _crit(self, name: str | None) -> int:
        return self.t.criteria.add(name if name is not None else DEFAULT_CRITERION)

    def pair(
        self,
        a: str,
        b: str,
        outcome: int,
        *,
        line: int,
        strength: float = math.nan,
        context: str | None = None,
        annotator: str | None = None,
        criterion: str | None = None,
        weight: float = 1.0,
        ident: str | None = None,
        rationale: str | None = None,
    ) -> bool:
        if a == b:
            self.ctx.problem(
                line, f"item {a!r} is compared with itself; fix one of the two names or drop the row"
            )
            return False
        if not self.ctx.check_id(ident, line):
            return False
        p = self.p
        p["a"].append(self.t.items.add(a))
        p["b"].append(self.t.items.add(b))
        p["outcome"].append(outcome)
        p["strength"].append(strength)
        p["context"].append(self._code(self.t.contexts, context))
        p["annotator"].append(self._code(self.t.annotators, annotator))
        p["criterion"].append(self._crit(criterion))
        p["weight"].append(weight)
        p["ids"].append(ident)
        p["rationale"].append(rationale)
        p["line"].append(line)
        return True

    def ranking(
        self,
        groups: list[list[str]],
        *,
        line: int,
        context: str | None = None,
        annotator: str | None = None,
        criterion: str | None = None,
        ident: str | None = None,
    ) -> bool:
        flat = [m for g in groups for m in g]
        if len(flat) < 2:
            self.ctx.problem(
                line, f"a ranking needs at least 2 items, found {len(flat)}; add the missing items or drop it"
            )
            return False
        dup = next((m for i, m in enumerate(flat) if m in flat[:i]), None)
        if dup is not None:
            self.ctx.problem(line, f"item {dup!r} appears twice in the ranking; list each item once")
            return False
        if not self.ctx.check_id(ident, line):
            return False
        r = self.r
        r["groups"].append([[self.t.items.add(m) for m in g] for g in groups])
        r["context"].append(self._code(self.t.contexts, context))
        r["annotator"].append(self._code(self.t.annotators, annotator))
        r["criterion"].append(self._crit(criterion))
        r["ids"].append(ident)
        r["line"].append(line)
        return True

    def rating(
        self,
        item: str,
        score: float,
        lo: float,
        hi: float,
        *,
        line: int,
        attribute: str | None = None,
        context: str | None = None,
        annotator: str | None = None,
        criterion: str | None = None,
        ident: str | None = None,
    ) -> bool:
        msg = rating_problem(score, lo, hi)
        if msg is not None:
            self.ctx.problem(line, msg)
            return False
        if not self.ctx.check_id(ident, line):
            return False
        s = self.s
        s["item"].append(self.t.items.add(item))
        s["score"].append(score)
        s["scale_min"].append(lo)
        s["scale_max"].append(hi)
        s["attribute"].append(self._code(self.t.attributes, attribute))
        s["context"].append(self._code(self.t.contexts, context))
        s["annotator"].append(self._code(self.t.annotators, annotator))
        s["criterion"].append(self._crit(criterion))
        s["ids"].append(ident)
        s["line"].append(line)
        return True

    def flush(self) -> Dataset:
        """A Dataset with the rows so far (sharing indexes and dicts with the template); then start afresh."""
        p, r, s = self.p, self.r, self.s
        pw = (
            PairwiseTable.build(
                np.asarray(p["a"], np.int32),
                p["b"],
                np.asarray(p["outcome"], np.int8),
                strength=p["strength"],
                context=p["context"],
                annotator=p["annotator"],
                criterion=p["criterion"],
                weight=p["weight"],
                ids=p["ids"],
                rationale=p["rationale"],
                line=p["line"],
            )
            if p["a"]
            else PairwiseTable.empty()
        )
        rk = (
            RankingTable.from_lists(
                r["groups"],
                context=r["context"],
                annotator=r["annotator"],
                criterion=r["criterion"],
                ids=r["ids"],
                line=r["line"],
            )
            if r["groups"]
            else RankingTable.empty()
        )
        rt = (
            RatingTable.build(
                np.asarray(s["item"], np.int32),
                s["score"],
                s["scale_min"],
                s["scale_max"],
                attribute=s["attribute"],
                context=s["context"],
                annotator=s["annotator"],
                criterion=s["criterion"],
                ids=s["ids"],
                line=s["line"],
            )
            if s["item"]
            else RatingTable.empty()
        )
        rs = self.resp
        responses = (
            ResponseTable.build(rs["context"], np.asarray(rs["item"], np.int32), rs["text"])
            if rs["item"]
            else ResponseTable.empty()
        )
        meta = self.t.meta
        if self.x:
            meta = dict(meta)
            for key, col in self.x.items():
                col.extend([math.nan] * (len(pw) - len(col)))
                meta[key] = np.asarray(col, dtype=np.float64)
        self._reset()
        return replace(self.t, pairwise=pw, rankings=rk, ratings=rt, responses=responses, meta=meta)


_PAIR_COLS = (
    "a",
    "b",
    "outcome",
    "strength",
    "context",
    "annotator",
    "criterion",
    "weight",
    "ids",
    "rationale",
    "line",
)
_RANK_COLS = ("groups", "context", "annotator", "criterion", "ids", "line")
_RATE_COLS = (
    "item",
    "score",
    "scale_min",
    "scale_max",
    "attribute",
    "context",
    "annotator",
    "criterion",
    "ids",
    "line",
)
