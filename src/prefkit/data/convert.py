"""Explicit conversions between judgment shapes.

* :func:`ranking_to_pairs`: every pair of items in a ranking (better one as ``a``; same tie group -> tie);
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


def ranking_to_pairs(rankings: RankingTable) -> PairwiseTable:
    """All implied pairs of each ranking: ``a`` is ranked above ``b`` (outcome a), or tied with it (tie).

    A ranking of K items gives K(K-1)/2 pairs; context, annotator, criterion and line are carried over.
    """
    sizes = rankings.sizes
    n_pairs = sizes * (sizes - 1) // 2
    total = int(n_pairs.sum())
    a = np.empty(total, np.int32)
    b = np.empty(total, np.int32)
    tie = np.empty(total, bool)
    pos = 0
    for r in range(len(rankings)):
        lo, hi = int(rankings.offsets[r]), int(rankings.offsets[r + 1])
        m, lv = rankings.members[lo:hi], rankings.level[lo:hi]
        i, j = np.triu_indices(hi - lo, k=1)
        k = len(i)
        a[pos : pos + k], b[pos : pos + k], tie[pos : pos + k] = m[i], m[j], lv[i] == lv[j]
        pos += k
    src = np.repeat(np.arange(len(rankings)), n_pairs)
    return PairwiseTable.build(
        a,
        b,
        np.where(tie, OUTCOME_TIE, OUTCOME_A).astype(np.int8),
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
