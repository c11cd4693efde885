"""Stream a preference file into TRL training rows with a recipe, in bounded memory, written atomically.

    >>> res = build("ranked.jsonl", "pairs.parquet", RecipeOptions("curry"))   # doctest: +SKIP

The input is read chunk by chunk with :func:`prefkit.data.io.iter_chunks` (rankings: one group per ranking;
ratings: one group per prompt, whose ratings must be contiguous in the file so that a group never straddles
two chunks: the last prompt of a chunk is carried into the next). The reader keeps every text it has seen;
with ``release_texts=True`` (``--low-memory``) texts already turned into rows are dropped, so memory stays
bounded by the chunk size when the file interleaves item records with their judgments; use it only when each
response belongs to one ranking / prompt (sampled data), since a response ranked again later has lost its text. ``tags`` reads the file twice (the first pass finds the score quantile).
``dedup`` drops exact repeats of a (prompt, chosen, rejected) pair (pair recipes). Nothing is written when no row
could be built (DataProblemError says why: only ties, one response per
prompt, ...); ``strict`` turns the first group that yields nothing into an ``FILE:LINE`` error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from prefkit.data import io
from prefkit.data.model import Dataset
from prefkit.errors import DataProblemError, InputError
from prefkit.optimize import groups as G
from prefkit.optimize import pairs as P
from prefkit.optimize.recipes import Chunk, RecipeOptions, build_rows, tag_scores
from prefkit.optimize.trl_format import validate_example
from prefkit.optimize.writer import RowWriter, check_target

MAX_STAGES = 64


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build` wrote."""

    path: str
    recipe: str
    rows: int
    groups: int
    skipped_single: int
    skipped_ties: int
    trl_format: str
    seconds: float
    tag_threshold: float | None = None
    duplicates: int = 0


def iter_groups(
    path: str | Path, format: str | None = None, chunk_rows: int = 65_536, attribute: str | None = None
) -> Iterator[tuple[Dataset, G.ScoredGroups]]:
    """``(chunk, groups)`` pairs of the file, each group whole."""
    carry: Dataset | None = None
    for ds in io.iter_chunks(path, format, chunk_rows=chunk_rows):
        if len(ds.ratings) and not len(ds.rankings):
            if carry is not None:
                ds = io.concat([carry, ds])
            last = int(ds.ratings.context[-1])
            tail = np.flatnonzero(ds.ratings.context == last)
            head = np.flatnonzero(ds.ratings.context != last)
            carry = replace(ds, ratings=ds.ratings.take(tail))
            ds = replace(ds, ratings=ds.ratings.take(head))
            if len(ds.ratings) == 0:
                continue
        yield ds, G.from_dataset(ds, attribute)
    if carry is not None and len(carry.ratings):
        yield carry, G.from_dataset(carry, attribute)


def _release(ds: Dataset, g: G.ScoredGroups) -> None:
    for name in ds.items.decode(np.unique(g.item)):
        ds.item_text.pop(name or "", None)
    for c in np.unique(g.context[g.context >= 0]).tolist():
        ds.context_text.pop(ds.contexts.name(int(c)), None)


def _tag_threshold(path: str | Path, fmt: str | None, chunk_rows: int, opts: RecipeOptions) -> float:
    scores = [tag_scores(g) for _, g in iter_groups(path, fmt, chunk_rows, opts.attribute)]
    allv = np.concatenate(scores) if scores else np.zeros(0)
    if len(allv) == 0:
        raise DataProblemError(f"{path}: no scored responses to tag")
    return float(np.quantile(allv, opts.tag_quantile))


def build(
    path: str | Path,
    out: str | Path,
    opts: RecipeOptions,
    *,
    format: str | None = None,
    force: bool = False,
    chunk_rows: int = 65_536,
    strict: bool = False,
    release_texts: bool = False,
    dedup: bool = False,
    progress: Callable[[int], None] | None = None,
) -> BuildResult:
    """Build the rows of ``opts.recipe`` from the preference file ``path`` into ``out`` (.jsonl / .parquet)."""
    t0 = time.perf_counter()
    check_target(out, force)
    if opts.recipe == "tags" and opts.tag_threshold is None:
        opts = replace(opts, tag_threshold=_tag_threshold(path, format, chunk_rows, opts))
    n_parts = MAX_STAGES if opts.recipe == "curry" else 1
    totals = {"groups": 0, "single": 0, "ties": 0}
    kind = ""
    seen = P.Deduper() if dedup else None
    with RowWriter(out, force=force, n_parts=n_parts) as w:
        for ds, g in iter_groups(path, format, chunk_rows, opts.attribute):
            try:
                ch = build_rows(ds, g, opts, seen)
            except DataProblemError as exc:
                if release_texts and "has no text" in str(exc):
                    raise DataProblemError(
                        f"{exc} (with release_texts / --low-memory, a response judged in two groups loses its "
                        "text after the first: build without it)"
                    ) from None
                raise
            _account(ch, totals, strict, path)
            if len(ch.columns):
                kind = kind or validate_example(ch.columns.row(0))
            if ch.stage is None:
                w.write(ch.columns)
            else:
                _write_stages(w, ch)
            if release_texts:
                _release(ds, g)
            if progress is not None:
                progress(len(ch.columns))
        rows = w.rows
    if rows == 0:
        raise DataProblemError(_nothing(path, totals))
    return BuildResult(
        str(out),
        opts.recipe,
        rows,
        totals["groups"],
        totals["single"],
        totals["ties"],
        kind,
        time.perf_counter() - t0,
        opts.tag_threshold,
        seen.dropped if seen is not None else 0,
    )


def _write_stages(w: RowWriter, ch: Chunk) -> None:
    assert ch.stage is not None
    stage = np.minimum(ch.stage, MAX_STAGES - 1)
    for s in np.unique(stage).tolist():
        idx = np.flatnonzero(stage == s)
        w.write(ch.columns.take(idx), part=int(s))


def _account(ch: Chunk, totals: dict[str, int], strict: bool, path: str | Path) -> None:
    totals["groups"] += ch.groups
    totals["single"] += ch.skipped_single
    totals["ties"] += ch.skipped_ties
    if strict and ch.first_skipped_line is not None:
        raise InputError(
            "this prompt gives no training row (a single response, or only tied responses); drop it or build "
            "without --strict to skip such prompts",
            path=path,
            line=ch.first_skipped_line,
        )


def _nothing(path: str | Path, totals: dict[str, int]) -> str:
    g, s, t = totals["groups"], totals["single"], totals["ties"]
    if g and t == g:
        why = f"every one of the {g} rankings/prompts has only tied responses: ties carry no preference"
    elif g and s == g:
        why = f"every one of the {g} prompts has a single response: pairs need at least two"
    elif g and s + t == g:
        why = f"the {g} prompts have a single response ({s}) or only tied ones ({t})"
    else:
        why = f"no group passed the recipe's filters ({g} groups read; lower --min-gap?)"
    return f"{path}: nothing to write, {why}; nothing was written"
