"""Batch refit of an arena's votes for the published table (Plackett-Luce or Bradley-Terry with intervals).

The online beliefs steer matchmaking; the published table refits every vote at once with the batch models of
:mod:`prefkit.ranking.leaderboard` (maximum likelihood with sandwich or bootstrap intervals).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from prefkit.errors import DataProblemError


def votes_to_rankings(votes: Sequence[tuple[Sequence[str], Sequence[int]]], names: Sequence[str]):
    """CSR rankings (members best first, ``level`` = tie group) from (items, ranks) votes."""
    from prefkit.ranking.leaderboard import Rankings

    pos = {name: i for i, name in enumerate(names)}
    offsets = [0]
    members: list[int] = []
    level: list[int] = []
    for items, ranks in votes:
        order = np.argsort(np.asarray(ranks), kind="stable")
        r = np.asarray(ranks)[order]
        members.extend(pos[items[i]] for i in order)
        level.extend(np.unique(r, return_inverse=True)[1].tolist())
        offsets.append(len(members))
    return Rankings(
        offsets=np.asarray(offsets, dtype=np.int64),
        members=np.asarray(members, dtype=np.int64),
        level=np.asarray(level, dtype=np.int64),
        names=tuple(names),
    )


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
