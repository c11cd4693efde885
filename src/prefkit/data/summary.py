"""Streaming summary of a preference data file: counts, annotators, connectivity of the comparison graph.

Works in bounded memory on files larger than RAM: chunks are read one at a time; only per-item /
per-annotator flags and the set of distinct compared pairs (a sorted int64 array) are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prefkit.data import graph
from prefkit.data.model import OUTCOME_BOTH_BAD, OUTCOME_TIE, Dataset


@dataclass
class Summary:
    """What ``prefkit info`` reports."""

    format: str | None
    items: int
    judgments: int
    pairwise: int
    rankings: int
    ratings: int
    ties: int
    both_bad: int
    annotators: int
    contexts: int
    criteria: list[str]
    distinct_pairs: int
    connected: bool
    n_components: int
    components: list[list[str]] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.connected:
            del out["components"]
        out["skipped"] = [{"line": ln, "reason": r} for ln, r in self.skipped]
        return out


class _Acc:
    """Accumulates counts over chunks that share their indexes."""

    def __init__(self) -> None:
        self.pairwise = self.rankings = self.ratings = self.ties = self.both_bad = 0
        self.keys = np.zeros(0, dtype=np.int64)
        self.used_annotators = np.zeros(0, dtype=bool)
        self.used_contexts = np.zeros(0, dtype=bool)
        self.used_criteria: set[int] = set()
        self.rating_groups: dict[tuple[int, int, int, int], int] = {}
        self.last: Dataset | None = None

    @staticmethod
    def _mark(flags: np.ndarray, n: int, codes: np.ndarray) -> np.ndarray:
        if len(flags) < n:
            flags = np.concatenate([flags, np.zeros(n - len(flags), dtype=bool)])
        codes = codes[codes >= 0]
        flags[codes] = True
        return flags

    def _edges(self, a: np.ndarray, b: np.ndarray) -> None:
        if not len(a):
            return
        lo = np.minimum(a, b).astype(np.int64)
        hi = np.maximum(a, b).astype(np.int64)
        self.keys = np.union1d(self.keys, np.unique((lo << 32) | hi))

    def add(self, ds: Dataset) -> None:
        self.last = ds
        pw, rk, rt = ds.pairwise, ds.rankings, ds.ratings
        self.pairwise += len(pw)
        self.rankings += len(rk)
        self.ratings += len(rt)
        self.ties += int((pw.outcome >= OUTCOME_TIE).sum())
        self.both_bad += int((pw.outcome == OUTCOME_BOTH_BAD).sum())
        for codes in (pw.annotator, rk.annotator, rt.annotator):
            self.used_annotators = self._mark(self.used_annotators, len(ds.annotators), codes)
        for codes in (pw.context, rk.context, rt.context):
            self.used_contexts = self._mark(self.used_contexts, len(ds.contexts), codes)
        for codes in (pw.criterion, rk.criterion, rt.criterion):
            self.used_criteria.update(np.unique(codes).tolist())
        self._edges(pw.a, pw.b)
        self._edges(*graph.ranking_edges(rk.offsets, rk.members))
        if len(rt):
            # items rated in the same group are comparable: link each to the group's first item
            first = np.empty(len(rt), dtype=np.int64)
            groups = self.rating_groups
            for i, key in enumerate(
                zip(
                    rt.context.tolist(),
                    rt.attribute.tolist(),
                    rt.annotator.tolist(),
                    rt.criterion.tolist(),
                    strict=True,
                )
            ):
                first[i] = groups.setdefault(key, int(rt.item[i]))
            self._edges(first, rt.item.astype(np.int64))

    def result(self, fmt: str | None, max_components: int | None) -> Summary:
        ds = self.last if self.last is not None else Dataset()
        n = len(ds.items)
        a, b = self.keys >> 32, self.keys & 0xFFFFFFFF
        labels = graph.components(n, a, b)
        n_comp = int(labels.max()) + 1 if n else 0
        comps: list[list[str]] = []
        if n_comp > 1:
            names = ds.items.names
            order = np.argsort(labels, kind="stable")
            bounds = np.searchsorted(labels[order], np.arange(n_comp + 1))
            for c in range(n_comp if max_components is None else min(n_comp, max_components)):
                comps.append([names[i] for i in order[bounds[c] : bounds[c + 1]]])
        return Summary(
            format=fmt,
            items=n,
            judgments=self.pairwise + self.rankings + self.ratings,
            pairwise=self.pairwise,
            rankings=self.rankings,
            ratings=self.ratings,
            ties=self.ties,
            both_bad=self.both_bad,
            annotators=int(self.used_annotators.sum()),
            contexts=int(self.used_contexts.sum()),
            criteria=[ds.criteria.name(c) for c in sorted(self.used_criteria)],
            distinct_pairs=len(self.keys),
            connected=n_comp <= 1,
            n_components=n_comp,
            components=comps,
            skipped=list(ds.meta.get("skipped", [])),
        )


def summarize(
    source: str | Path | Dataset,
    format: str | None = None,
    *,
    strict: bool = True,
    chunk_rows: int = 262_144,
    max_components: int | None = None,
    progress: Callable[[int], Any] | None = None,
) -> Summary:
    """Summarise a Dataset or a file (streamed in chunks of ``chunk_rows``; memory stays bounded).

    ``ties`` counts pairwise ties including both_bad (``both_bad`` counts those alone); ``items`` counts every item in the index (items
    declared but never judged are components of their own). ``max_components`` caps the listed components.
    """
    from prefkit.data.io import iter_chunks, normalize_format

    acc = _Acc()
    if isinstance(source, Dataset):
        acc.add(source)
        fmt = normalize_format(format) or source.meta.get("format")
    else:
        fmt = None
        for chunk in iter_chunks(source, format, chunk_rows, strict=strict):
            acc.add(chunk)
            fmt = chunk.meta.get("format")
            if progress is not None:
                progress(chunk.n_judgments)
    return acc.result(fmt, max_components)
