"""What a leaderboard is fitted on: pairwise battles or K-wise rankings as integer arrays, and the conversions.

A :class:`Battles` log (in order: online Elo needs it), a :class:`prefkit.ranking.counts.CountTable` (its
sufficient statistics) or :class:`Rankings` (CSR form). Rankings imply pairs (every pair of a ranking, equal
levels tie); pairs are rankings of two (for Plackett-Luce).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from prefkit.data.convert import implied_pairs
from prefkit.data.model import OUTCOME_TIE
from prefkit.ranking.counts import CountTable, ItemTotals, count_pairwise

__all__ = [
    "Battles",
    "Rankings",
    "as_count_table",
    "pairs_to_rankings",
    "ranking_totals",
    "rankings_to_pairs",
    "renumber_sorted",
    "sorted_battles",
]


@dataclass(frozen=True, eq=False)
class Battles:
    """Pairwise battles as integer arrays (``outcome`` codes of :mod:`prefkit.data.model`), in log order."""

    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray
    names: tuple[str, ...]
    weight: np.ndarray | None = None
    features: np.ndarray | None = None
    feature_names: tuple[str, ...] = ()

    @property
    def n_items(self) -> int:
        return len(self.names)

    def counts(self) -> CountTable:
        return count_pairwise(
            self.a, self.b, self.outcome, n_items=self.n_items, weight=self.weight, names=self.names
        )


@dataclass(frozen=True, eq=False)
class Rankings:
    """K-wise rankings in CSR form (see :class:`prefkit.data.model.RankingTable`)."""

    offsets: np.ndarray
    members: np.ndarray
    level: np.ndarray
    names: tuple[str, ...]
    weight: np.ndarray | None = None


def renumber_sorted(names: Sequence[str], *codes: np.ndarray) -> tuple[list[np.ndarray], tuple[str, ...]]:
    """Renumber item codes over the items they use, in sorted name order (the order every reader returns)."""
    used = np.unique(np.concatenate([np.asarray(c, dtype=np.int64).reshape(-1) for c in codes]))
    kept = [names[int(k)] for k in used]
    order = np.asarray(sorted(range(len(kept)), key=kept.__getitem__), dtype=np.int64)
    lut = np.full(len(names), -1, dtype=np.int64)
    lut[used[order]] = np.arange(len(used))
    return [lut[np.asarray(c, dtype=np.int64)] for c in codes], tuple(kept[int(k)] for k in order)


def sorted_battles(
    a: np.ndarray, b: np.ndarray, outcome: np.ndarray, names: Sequence[str], weight: np.ndarray | None = None
) -> Battles:
    """:class:`Battles` over the items that occur, in sorted name order; all-ones weights become None."""
    (a2, b2), kept = renumber_sorted(names, a, b)
    w = None if weight is None or np.all(np.asarray(weight) == 1.0) else np.asarray(weight, dtype=np.float64)
    return Battles(a2, b2, np.asarray(outcome, dtype=np.int64), kept, weight=w)


def rankings_to_pairs(rk: Rankings) -> Battles:
    """The pairwise battles implied by K-wise rankings (:func:`prefkit.data.convert.implied_pairs`: every pair
    in a ranking, better item as ``a``; equal levels tie), each carrying its ranking's weight."""
    p = implied_pairs(rk.offsets, rk.members, rk.level)
    weight = None if rk.weight is None else np.asarray(rk.weight, dtype=np.float64)[p.ranking]
    return Battles(p.a, p.b, p.outcome, rk.names, weight=weight)


def pairs_to_rankings(data: Battles) -> Rankings:
    """Each battle as a ranking of two (winner first; a tie or both-bad is one tie group)."""
    n = len(data.a)
    win_first = data.outcome != 1
    first = np.where(win_first, data.a, data.b)
    second = np.where(win_first, data.b, data.a)
    level2 = np.where(data.outcome >= 2, 0, 1)
    members = np.stack([first, second], axis=1).ravel()
    level = np.stack([np.zeros(n, dtype=np.int64), level2], axis=1).ravel()
    return Rankings(np.arange(n + 1) * 2, members, level, data.names, data.weight)


def as_count_table(data: Battles | CountTable | Rankings) -> CountTable:
    """The pair-count table of any input (rankings through their implied pairs)."""
    if isinstance(data, CountTable):
        return data
    if isinstance(data, Rankings):
        data = rankings_to_pairs(data)
    return data.counts()


def ranking_totals(rk: Rankings) -> ItemTotals:
    """Implied pairwise wins / losses / ties of each item over all rankings (``battles``: rankings it is in)."""
    n = len(rk.names)
    p = implied_pairs(rk.offsets, rk.members, rk.level)
    tie = p.outcome == OUTCOME_TIE
    win = (~tie).astype(float)
    ties = np.bincount(p.a, tie, minlength=n) + np.bincount(p.b, tie, minlength=n)
    return ItemTotals(
        battles=np.bincount(rk.members, minlength=n).astype(float),
        wins=np.bincount(p.a, win, minlength=n),
        losses=np.bincount(p.b, win, minlength=n),
        ties=ties.astype(float),
    )
