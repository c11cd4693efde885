"""Explicit conversions between judgment shapes.

* :func:`implied_pairs`: every pair of items in each ranking of CSR arrays (better one as ``a``; same level ->
  tie): the one rankings-to-pairs conversion, used by the data tables, the leaderboards and the web service;
* :func:`ranking_to_pairs`: the same over a :class:`~prefkit.data.model.RankingTable`;
* :func:`ratings_to_pairs`: items rated in the same context, attribute and by the same annotator become pairs
  with a margin (score difference; equal scores -> tie);
* :func:`pairs_to_trl`: pairwise judgments -> TRL ``{prompt, chosen, rejected}`` rows (ties and both_bad are
  dropped and counted);
* :func:`to_pairwise`: a Dataset whose rankings and ratings have been turned into pairs (what the arena and
  TRL writers need).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from prefkit.data.model import OUTCOME_A, OUTCOME_TIE, Dataset, PairwiseTable, RankingTable, RatingTable
from prefkit.errors import ValidationError


@dataclass(frozen=True)
class ImpliedPairs:
    """The pairs implied by CSR rankings: ``a`` ranked above ``b`` (``OUTCOME_A``) or tied with it
    (``OUTCOME_TIE``); ``ranking`` is the row of the ranking each pair comes from."""

    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray
    ranking: np.ndarray


def implied_pairs(offsets: np.ndarray, members: np.ndarray, level: np.ndarray) -> ImpliedPairs:
    """Every pair of items within each ranking of a CSR table (the one rankings-to-pairs conversion).

    Ranking ``r`` is ``members[offsets[r]:offsets[r+1]]`` with ``level`` (lower is better, equal is a tie; the
    members need not be sorted by level). It gives K(K-1)/2 pairs, in member order (``i < j``), each turned so
    that ``a`` is the better item (outcome a) or, for equal levels, kept in member order (outcome tie).
    Rankings of fewer than two items give no pairs.
    """
    off, mem, lev = _check_csr(offsets, members, level)
    sizes = np.diff(off)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for k in np.unique(sizes[sizes >= 2]).tolist():
        rows = np.flatnonzero(sizes == k)
        iu, ju = np.triu_indices(k, 1)
        start = off[rows][:, None]
        parts.append((start + iu, start + ju, np.repeat(rows, len(iu))))
    if not parts:
        z = np.zeros(0, np.int64)
        return ImpliedPairs(z.astype(np.int32), z.astype(np.int32), z.astype(np.int8), z)
    src = np.concatenate([p[2] for p in parts])
    order = np.argsort(src, kind="stable")  # rankings in row order, pairs of a ranking in (i, j) order
    pi = np.concatenate([p[0].ravel() for p in parts])[order]
    pj = np.concatenate([p[1].ravel() for p in parts])[order]
    swap = lev[pi] > lev[pj]
    first, second = np.where(swap, pj, pi), np.where(swap, pi, pj)
    return ImpliedPairs(
        a=mem[first].astype(np.int32),
        b=mem[second].astype(np.int32),
        outcome=np.where(lev[pi] == lev[pj], OUTCOME_TIE, OUTCOME_A).astype(np.int8),
        ranking=src[order],
    )


def _check_csr(
    offsets: np.ndarray, members: np.ndarray, level: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    off = np.asarray(offsets)
    mem = np.asarray(members)
    lev = np.asarray(level)
    for name, x in (("offsets", off), ("members", mem), ("level", lev)):
        if x.ndim != 1 or not (x.size == 0 or np.issubdtype(x.dtype, np.integer)):
            raise ValidationError(f"{name}: expected a 1-D array of integers, got shape {x.shape} {x.dtype}")
    if off.size == 0 or off[0] != 0 or np.any(np.diff(off) < 0) or off[-1] != mem.size:
        raise ValidationError(
            "offsets: expected a non-decreasing array starting at 0 and ending at len(members) "
            "(ranking r is members[offsets[r]:offsets[r+1]])"
        )
    if lev.shape != mem.shape:
        raise ValidationError(f"level: one level per member, got {lev.size} for {mem.size} members")
    if mem.size and mem.min() < 0:
        raise ValidationError("members: item codes must be >= 0")
    return off.astype(np.int64), mem.astype(np.int64), lev.astype(np.int64)


def ranking_to_pairs(rankings: RankingTable) -> PairwiseTable:
    """All implied pairs of each ranking (:func:`implied_pairs`): ``a`` is ranked above ``b`` (outcome a), or
    tied with it (tie).

    A ranking of K items gives K(K-1)/2 pairs; context, annotator, criterion and line are carried over.
    """
    p = implied_pairs(rankings.offsets, rankings.members, rankings.level)
    src = p.ranking
    return PairwiseTable.build(
        p.a,
        p.b,
        p.outcome,
        context=rankings.context[src],
        annotator=rankings.annotator[src],
        criterion=rankings.criterion[src],
        line=rankings.line[src],
        tstamp=rankings.tstamp[src],
    )


@dataclass(frozen=True)
class MarginPairs:
    """Pairs implied by ratings: ``pairs.a`` scored ``margin >= 0`` higher than ``pairs.b`` on ``attribute``."""

    pairs: PairwiseTable
    margin: np.ndarray
    attribute: np.ndarray


def ratings_to_pairs(ratings: RatingTable) -> MarginPairs:
    """Pairs of items rated in the same (context, attribute, annotator, criterion) group.

    The higher-scored item is ``a`` (outcome a) and ``margin`` is the score difference; equal scores give
    a tie with margin 0. Ratings on different scales are compared only within the same group, as given.
    """
    key = np.stack([ratings.context, ratings.attribute, ratings.annotator, ratings.criterion], axis=1)
    order = np.lexsort(key.T[::-1])
    ks = key[order]
    starts = np.flatnonzero(np.r_[True, (ks[1:] != ks[:-1]).any(axis=1)])
    ends = np.r_[starts[1:], len(order)]
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        if e - s >= 2:
            i, j = np.triu_indices(e - s, k=1)
            parts.append((order[s + i], order[s + j]))
    if parts:
        ri = np.concatenate([p[0] for p in parts])
        rj = np.concatenate([p[1] for p in parts])
    else:
        ri = rj = np.zeros(0, np.int64)
    si, sj = ratings.score[ri], ratings.score[rj]
    swap = sj > si
    hi = np.where(swap, rj, ri)
    lo = np.where(swap, ri, rj)
    margin = np.abs(si - sj)
    pairs = PairwiseTable.build(
        ratings.item[hi],
        ratings.item[lo],
        np.where(margin == 0, OUTCOME_TIE, OUTCOME_A).astype(np.int8),
        context=ratings.context[hi],
        annotator=ratings.annotator[hi],
        criterion=ratings.criterion[hi],
        line=ratings.line[hi],
        tstamp=ratings.tstamp[hi],
    )
    keep = pairs.a != pairs.b
    if not keep.all():
        pairs = pairs.take(np.flatnonzero(keep))
        margin, hi = margin[keep], hi[keep]
    return MarginPairs(pairs=pairs, margin=margin, attribute=ratings.attribute[hi])


@dataclass(frozen=True)
class TrlRows:
    """TRL preference rows (dicts with ``chosen``, ``rejected`` and, when known, ``prompt``) and what was dropped."""

    rows: list[dict[str, Any]]
    dropped_ties: int
    dropped_both_bad: int


def pairs_to_trl(ds: Dataset) -> TrlRows:
    """The pairwise judgments of ``ds`` as TRL rows (texts from ``item_text`` / ``context_text``).

    Raises DataProblemError when an item has no text (e.g. arena logs, whose items are model names).
    """
    from prefkit.data.formats import trl

    rows, ties, both_bad = trl.to_rows(
        replace(ds, rankings=RankingTable.empty(), ratings=RatingTable.empty())
    )
    return TrlRows(rows=rows, dropped_ties=ties, dropped_both_bad=both_bad)


@dataclass(frozen=True)
class Pairwised:
    """A dataset with only pairwise judgments, and how many came from rankings / ratings."""

    dataset: Dataset
    from_rankings: int
    from_ratings: int


def to_pairwise(ds: Dataset) -> Pairwised:
    """``ds`` with its rankings and ratings converted into pairs appended to ``ds.pairwise``."""
    rk = ranking_to_pairs(ds.rankings) if len(ds.rankings) else PairwiseTable.empty()
    rt = ratings_to_pairs(ds.ratings).pairs if len(ds.ratings) else PairwiseTable.empty()
    if len(rk) + len(rt) == 0:
        return Pairwised(ds, 0, 0)
    pw = PairwiseTable.concat([ds.pairwise, rk, rt])
    out = replace(ds, pairwise=pw, rankings=RankingTable.empty(), ratings=RatingTable.empty())
    return Pairwised(out, len(rk), len(rt))
