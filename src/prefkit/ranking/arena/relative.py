"""Relative confidence estimation: rank arbitrary items by a judge's pairwise or K-wise preferences.

The judge (for instance an LLM asked "which of these questions are you more confident about?") is a callback
``judge(items) -> ranking`` taking K item names and returning either the best one (a name) or a ranking: a list
of names best first, or a list of tie groups. The arena's matchmaking picks each call's items and the Gaussian
skill beliefs aggregate the answers; the result is the arena's leaderboard after ``budget`` calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prefkit.errors import ValidationError
from prefkit.ranking.arena.engine import Arena, SkillTable, Vote

JudgeAnswer = str | Sequence[str] | Sequence[Sequence[str]]

__all__ = ["rank_with_judge"]


def rank_with_judge(
    items: Sequence[str],
    judge: Callable[[tuple[str, ...]], JudgeAnswer],
    *,
    budget: int,
    k: int = 2,
    policy: str = "infogain",
    seed: int = 0,
) -> SkillTable:
    """Rank ``items`` with at most ``budget`` judge calls of ``k`` items each (see the module doc)."""
    if budget < 1:
        raise ValidationError(f"budget must be >= 1 judge call, got {budget}")
    if len(items) < k:
        raise ValidationError(f"need at least k={k} items, got {len(items)}")
    arena = Arena(items, k=k, policy=policy, seed=seed)
    for _ in range(budget):
        match = arena.next_match()
        answer = judge(match.items)
        if isinstance(answer, str):
            vote = Vote(match.items, winner=answer, match_id=match.match_id)
        else:
            vote = Vote(match.items, ranking=list(answer), match_id=match.match_id)
        arena.record(vote)
    return arena.skill_table()
