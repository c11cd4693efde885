"""Scored groups: the candidates of each prompt with a score, the one input every pair builder reads.

A group is one prompt (context) with its K candidate responses, stored CSR-style like rankings:
``item[offsets[g]:offsets[g+1]]`` with ``score`` (higher is better) and, for multi-objective ratings,
``objectives`` (one column per attribute). From a ranking, ``score = -tie level`` (so the score gap is the rank
gap); from ratings, the score is one attribute's rating (or the mean over attributes) averaged over annotators.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prefkit.data.model import Dataset, RankingTable, RatingTable
from prefkit.errors import DataProblemError, ValidationError


@dataclass(frozen=True)
class ScoredGroups:
    """CSR groups of candidates (see module docstring); ``line`` is the source line of each group."""

    offsets: np.ndarray
    item: np.ndarray
    score: np.ndarray
    context: np.ndarray
    line: np.ndarray
    objectives: np.ndarray | None = None
    ranked: bool = False  # scores are -tie levels (comparable within a group only)

    def __post_init__(self) -> None:
        n = int(self.offsets[-1]) if len(self.offsets) else 0
        if len(self.offsets) < 1 or len(self.item) != n or len(self.score) != n:
            raise ValidationError("offsets, item and score must describe the same members (CSR layout)")
        if len(self.context) != len(self.offsets) - 1 or len(self.line) != len(self.context):
            raise ValidationError("context and line need one entry per group")
        if np.isnan(self.score).any():
            g = int(np.searchsorted(self.offsets, np.flatnonzero(np.isnan(self.score))[0], side="right") - 1)
            raise ValidationError(
                f"NaN score in the group from line {int(self.line[g])}; give every candidate a number or drop it"
            )

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def group_of(self) -> np.ndarray:
        """The group index of each member."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.sizes)

    @classmethod
    def from_lists(
        cls,
        scores: list[list[float]],
        *,
        items: list[list[int]] | None = None,
        context: list[int] | None = None,
        objectives: list[list[list[float]]] | None = None,
    ) -> ScoredGroups:
        """Small groups from Python lists (tests, examples): ``scores[g]`` are group g's candidate scores."""
        sizes = [len(s) for s in scores]
        offsets = np.zeros(len(scores) + 1, np.int64)
        np.cumsum(sizes, out=offsets[1:])
        n = int(offsets[-1])
        item = (
            np.arange(n, dtype=np.int32)
            if items is None
            else np.array([i for g in items for i in g], np.int32)
        )
        obj = None if objectives is None else np.array([o for g in objectives for o in g], np.float64)
        return cls(
            offsets=offsets,
            item=item,
            score=np.array([s for g in scores for s in g], np.float64),
            context=np.arange(len(scores), dtype=np.int32)
            if context is None
            else np.asarray(context, np.int32),
            line=np.arange(1, len(scores) + 1, dtype=np.int64),
            objectives=obj,
        )


def from_rankings(rankings: RankingTable) -> ScoredGroups:
    """One group per ranking; ``score = -level`` (best tie group 0, next -1, ...)."""
    return ScoredGroups(
        offsets=rankings.offsets.astype(np.int64),
        item=rankings.members.astype(np.int32),
        score=-rankings.level.astype(np.float64),
        context=rankings.context.astype(np.int32),
        line=rankings.line.astype(np.int64),
        ranked=True,
    )


def from_ratings(ratings: RatingTable, n_attributes: int, attribute: int | None = None) -> ScoredGroups:
    """One group per context: each rated item once, with its ratings averaged over annotators.

    ``objectives[:, k]`` is the mean rating on attribute k (NaN where the item has none); ``score`` is the
    rating on ``attribute`` or, when None, the mean over the item's attributes.
    """
    if len(ratings) == 0:
        return _empty()
    attr = np.where(ratings.attribute < 0, 0, ratings.attribute).astype(np.int64)
    width = max(n_attributes, 1)
    if attribute is not None and not 0 <= attribute < width:
        raise ValidationError(f"attribute code {attribute} is out of range [0, {width})")
    # (context, item) keys in order of first appearance
    key = ratings.context.astype(np.int64) * (1 << 32) + ratings.item.astype(np.int64)
    uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    row = rank[inv]
    sums = np.zeros((len(uniq), width))
    counts = np.zeros((len(uniq), width))
    np.add.at(sums, (row, attr), ratings.score)
    np.add.at(counts, (row, attr), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        obj = sums / counts
    ctx = (uniq[order] >> 32).astype(np.int32)
    item = (uniq[order] & 0xFFFFFFFF).astype(np.int32)
    line_of = ratings.line[first[order]]
    if attribute is None:
        score = (
            np.nanmean(np.where(counts[order] > 0, obj[order], np.nan), axis=1)
            if width > 1
            else obj[order, 0]
        )
    else:
        score = obj[order, attribute]
    obj = obj[order]
    if np.isnan(score).any():
        bad = int(np.flatnonzero(np.isnan(score))[0])
        raise DataProblemError(
            f"line {int(line_of[bad])}: the item has no rating on the selected attribute; rate it or choose "
            "another attribute"
        )
    # contexts may interleave: group members by context in order of first appearance
    cuniq, cfirst, cinv = np.unique(ctx, return_index=True, return_inverse=True)
    corder = np.argsort(cfirst, kind="stable")
    crank = np.empty_like(corder)
    crank[corder] = np.arange(len(corder))
    gid = crank[cinv]
    perm = np.argsort(gid, kind="stable")
    sizes = np.bincount(gid, minlength=len(cuniq))
    offsets = np.zeros(len(cuniq) + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return ScoredGroups(
        offsets=offsets,
        item=item[perm],
        score=score[perm].astype(np.float64),
        context=cuniq[corder].astype(np.int32),
        line=line_of[perm][offsets[:-1]],
        objectives=obj[perm],
    )


def _empty() -> ScoredGroups:
    z = np.zeros(0)
    return ScoredGroups(np.zeros(1, np.int64), z.astype(np.int32), z, z.astype(np.int32), z.astype(np.int64))


def from_dataset(ds: Dataset, attribute: str | None = None) -> ScoredGroups:
    """The groups of ``ds``: its rankings, else its ratings (one of the two shapes must be present)."""
    if len(ds.rankings):
        return from_rankings(ds.rankings)
    if len(ds.ratings):
        code = None
        if attribute is not None:
            if attribute not in ds.attributes:
                raise ValidationError(
                    f"unknown attribute {attribute!r}; the ratings have {', '.join(ds.attributes) or 'none'}"
                )
            code = ds.attributes.code(attribute)
        return from_ratings(ds.ratings, len(ds.attributes), code)
    if len(ds.pairwise):
        raise DataProblemError(
            f"{ds.source or 'the input'} holds pairwise judgments only; the builders need K-wise rankings or "
            "ratings (for pairs, use prefkit data convert --to trl)"
        )
    return _empty()
