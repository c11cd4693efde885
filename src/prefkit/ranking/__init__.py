"""Leaderboards from comparisons (batch models) and the online Bayesian arena.

Import the submodules directly (``prefkit.ranking.bt``, ``prefkit.ranking.arena``, ...).
"""
