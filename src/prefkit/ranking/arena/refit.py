"""Batch refit of an arena's votes for the published table (Plackett-Luce or Bradley-Terry with intervals).

The online beliefs steer matchmaking; the published table refits every vote at once with the batch models of
:mod:`prefkit.ranking.leaderboard` (maximum likelihood with sandwich or bootstrap intervals).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from prefkit.errors import DataProblemError, ValidationError


def votes_to_rankings(votes: Sequence[tuple[Sequence[str], Sequence[int]]], names: Sequence[str]):
    """CSR rankings (members best first, ``level`` = tie group) from (items, ranks) votes."""
    pos = {name: i for i, name in enumerate(names)}
    return coded_votes_to_rankings(
        [[pos[i] for i in items] for items, _ in votes], [r for _, r in votes], names
    )


def coded_votes_to_rankings(
    items: Sequence[Sequence[int]], ranks: Sequence[Sequence[int]], names: Sequence[str]
):
    """CSR rankings from votes given as item codes and their ranks (0 = best, equal = tie): each vote's members
    sorted best first (shown order among ties), ``level`` its dense tie-group index."""
    from prefkit.ranking.leaderboard import Rankings

    if len(items) != len(ranks):
        raise ValidationError(
            f"items, ranks: one rank list per vote, got {len(ranks)} for {len(items)} votes"
        )
    sizes = np.fromiter((len(v) for v in items), dtype=np.int64, count=len(items))
    if any(len(r) != k for r, k in zip(ranks, sizes.tolist(), strict=True)):
        raise ValidationError("ranks: one rank per item of each vote")
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    members = np.fromiter((m for v in items for m in v), dtype=np.int64, count=int(offsets[-1]))
    rank = np.fromiter((x for r in ranks for x in r), dtype=np.int64, count=int(offsets[-1]))
    if members.size and (members.min() < 0 or members.max() >= len(names)):
        raise ValidationError(f"items: codes must lie in 0..{len(names) - 1}")
    row = np.repeat(np.arange(len(items)), sizes)
    order = np.lexsort((np.arange(members.size), rank, row))  # by vote, then rank, then shown order
    row, rank = row[order], rank[order]
    new_group = np.ones(members.size, dtype=bool)
    new_group[1:] = (row[1:] != row[:-1]) | (rank[1:] != rank[:-1])
    group = np.cumsum(new_group) - 1
    level = group - group[offsets[:-1]][row] if members.size else group
    return Rankings(offsets=offsets, members=members[order], level=level.astype(np.int64), names=tuple(names))


def batch_refit(
    votes: Sequence[tuple[Sequence[str], Sequence[int]]],
    names: Sequence[str],
    *,
    method: str = "pl",
    ci: str | None = "sandwich",
    rounds: int = 200,
    prior: float = 0.0,
    seed: int = 0,
) -> Any:
    """Refit all votes (a :class:`prefkit.ranking.leaderboard.Leaderboard` with intervals)."""
    if not votes:
        raise DataProblemError("the arena has no votes yet: record votes before publishing a table")
    from prefkit.ranking.leaderboard import RatingModel

    rankings = votes_to_rankings(votes, names)
    model = RatingModel(method=method, ci=ci, rounds=rounds, prior=prior, seed=seed)
    return model.fit(rankings).leaderboard_
