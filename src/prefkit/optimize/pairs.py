"""Pair builders over scored groups: pure, vectorised functions returning member indices.

Every builder returns a :class:`PairIndex`: ``chosen`` / ``rejected`` index members of the groups (positions in
``groups.item``), ``group`` the group of each pair and ``gap`` the score difference (> 0). Ties never become
pairs: a pair needs ``gap > min_gap`` (``min_gap = 0`` keeps every strict preference); groups with a single
candidate or only tied candidates give no pair and are counted in ``skipped_single`` / ``skipped_ties``.

* :func:`all_pairs`: every strictly ordered pair of each group (K(K-1)/2 for a ranking without ties);
* :func:`best_vs_worst`: the top candidate against the bottom one (first of each in case of ties);
* :func:`best_vs_each`: the top candidate against every strictly worse one;
* :func:`curriculum`: Curry-DPO (Pattnaik et al. 2024): pairs of each group numbered easy to hard by
  decreasing gap (``stage`` 0 = largest gap); with 4 ranked responses, (1, 4) is stage 0, (1, 3) stage 1,
  (1, 2) stage 2; :func:`stage_order` sorts a set of pairs stage by stage.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from prefkit.errors import ValidationError
from prefkit.optimize.groups import ScoredGroups


@dataclass(frozen=True)
class PairIndex:
    """Pairs as member indices into a :class:`ScoredGroups`, with what was left out."""

    chosen: np.ndarray
    rejected: np.ndarray
    group: np.ndarray
    gap: np.ndarray
    stage: np.ndarray | None = None
    skipped_single: int = 0
    skipped_ties: int = 0
    first_skipped_line: int | None = None

    def __len__(self) -> int:
        return len(self.chosen)

    def take(self, idx: np.ndarray) -> PairIndex:
        return replace(
            self,
            chosen=self.chosen[idx],
            rejected=self.rejected[idx],
            group=self.group[idx],
            gap=self.gap[idx],
            stage=None if self.stage is None else self.stage[idx],
        )


def _buckets(groups: ScoredGroups) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """For each group size K: the groups of that size and their members as a ``(n, K)`` index matrix."""
    sizes = groups.sizes
    for k in np.unique(sizes).tolist():
        if k < 2:
            continue
        gidx = np.flatnonzero(sizes == k)
        yield gidx, groups.offsets[gidx][:, None] + np.arange(k)[None, :]


def _skips(groups: ScoredGroups, has_pair: np.ndarray) -> tuple[int, int, int | None]:
    single = groups.sizes < 2
    tied = ~single & ~has_pair
    bad = np.flatnonzero(single | tied)
    first = int(groups.line[bad[0]]) if len(bad) else None
    return int(single.sum()), int(tied.sum()), first


def _finish(
    groups: ScoredGroups, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], min_gap: float
) -> PairIndex:
    if parts:
        c = np.concatenate([p[0] for p in parts])
        r = np.concatenate([p[1] for p in parts])
        g = np.concatenate([p[2] for p in parts])
    else:
        c = r = g = np.zeros(0, np.int64)
    gap = groups.score[c] - groups.score[r]
    strict = gap > 0
    has_pair = np.zeros(len(groups), bool)
    has_pair[g[strict]] = True
    keep = gap > min_gap
    order = np.lexsort((c[keep], g[keep]))  # group-major: the stream order of the input
    c, r, g, gap = c[keep][order], r[keep][order], g[keep][order], gap[keep][order]
    single, ties, first = _skips(groups, has_pair)
    return PairIndex(c, r, g, gap, None, single, ties, first)


def _check_gap(min_gap: float) -> None:
    if not min_gap >= 0:
        raise ValidationError(f"min_gap must be >= 0, got {min_gap}")


def all_pairs(groups: ScoredGroups, min_gap: float = 0.0) -> PairIndex:
    """Every pair of each group whose scores differ by more than ``min_gap`` (better one chosen)."""
    _check_gap(min_gap)
    parts = []
    for gidx, m in _buckets(groups):
        i, j = np.triu_indices(m.shape[1], k=1)
        mi, mj = m[:, i].ravel(), m[:, j].ravel()
        swap = groups.score[mj] > groups.score[mi]
        parts.append((np.where(swap, mj, mi), np.where(swap, mi, mj), np.repeat(gidx, len(i))))
    return _finish(groups, parts, min_gap)


def _best_worst(groups: ScoredGroups) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    for gidx, m in _buckets(groups):
        s = groups.score[m]
        rows = np.arange(len(gidx))
        yield gidx, m, m[rows, np.argmax(s, axis=1)], m[rows, np.argmin(s, axis=1)]


def best_vs_worst(groups: ScoredGroups, min_gap: float = 0.0) -> PairIndex:
    """The best candidate of each group against its worst one."""
    _check_gap(min_gap)
    parts = [(best, worst, gidx) for gidx, _, best, worst in _best_worst(groups)]
    return _finish(groups, parts, min_gap)


def best_vs_each(groups: ScoredGroups, min_gap: float = 0.0) -> PairIndex:
    """The best candidate of each group against every other candidate scored strictly lower."""
    _check_gap(min_gap)
    parts = []
    for gidx, m, best, _ in _best_worst(groups):
        k = m.shape[1]
        others = m.ravel()
        b = np.repeat(best, k)
        keep = others != b
        parts.append((b[keep], others[keep], np.repeat(gidx, k)[keep]))
    return _finish(groups, parts, min_gap)


def curriculum(groups: ScoredGroups, min_gap: float = 0.0, pairing: str = "best-vs-each") -> PairIndex:
    """Curry-DPO pairs with ``stage``: within each group, 0 for the largest gap, 1 for the next, ..."""
    builders = {"best-vs-each": best_vs_each, "all-pairs": all_pairs}
    if pairing not in builders:
        raise ValidationError(f"unknown pairing {pairing!r}; choose one of {', '.join(builders)}")
    p = builders[pairing](groups, min_gap)
    order = np.lexsort((-p.gap, p.group))
    g = p.group[order]
    start = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1] if len(g) else np.zeros(0, np.int64)
    first_of = np.repeat(start, np.diff(np.r_[start, len(g)]))
    stage = np.empty(len(g), np.int64)
    stage[order] = np.arange(len(g)) - first_of
    return replace(p, stage=stage)


def stage_order(p: PairIndex) -> np.ndarray:
    """The permutation that lists the pairs stage by stage (easy first), stable within a stage."""
    if p.stage is None:
        raise ValidationError("these pairs have no stage; build them with curriculum()")
    return np.argsort(p.stage, kind="stable")


BUILDERS = {"all-pairs": all_pairs, "best-worst": best_vs_worst, "best-each": best_vs_each}


class Deduper:
    """Remembers the (context, chosen item, rejected item) triples seen so far, across chunks.

    Only exact repeats are dropped (the same pair from two annotators' identical rankings); a pair judged both
    ways by two annotators stays as two rows, one per direction.
    """

    def __init__(self) -> None:
        self._seen: set[tuple[int, int, int]] = set()
        self.dropped = 0

    def fresh(self, context: np.ndarray, chosen: np.ndarray, rejected: np.ndarray) -> np.ndarray:
        """Boolean mask of the triples not seen before (repeats within the call count as seen)."""
        keep = np.zeros(len(context), bool)
        seen = self._seen
        for i, key in enumerate(zip(context.tolist(), chosen.tolist(), rejected.tolist(), strict=True)):
            if key not in seen:
                seen.add(key)
                keep[i] = True
        self.dropped += int((~keep).sum())
        return keep
