"""Leaderboards from comparisons.

Two families: the batch models in this package (``prefkit.ranking.bt``, ``ties``, ``pl``, ``elo``, ``style``,
``leaderboard``: fits on the pair-count table with sandwich or bootstrap intervals) and the online arena in
``prefkit.ranking.arena`` (Bayesian skills, matchmaking, the ``Arena`` engine). Import submodules directly.
"""
