"""The online arena: Bayesian K-wise skills, matchmaking, the ``Arena`` engine, simulators.

The batch leaderboards (Bradley-Terry, Davidson, Plackett-Luce, Elo, style control) live one level up in
:mod:`prefkit.ranking`; this package is the online family that decides the next match and updates beliefs vote by
vote. Its live table is a :class:`SkillTable` (beliefs, not fitted ratings with intervals: those are the batch
:class:`prefkit.ranking.leaderboard.Leaderboard`).
"""

from prefkit.ranking.arena.engine import Arena, Match, SkillRow, SkillTable, Vote

__all__ = ["Arena", "Match", "SkillRow", "SkillTable", "Vote"]
