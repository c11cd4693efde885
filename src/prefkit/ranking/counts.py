"""The sufficient statistics of pairwise models: a table of counts per unordered pair and outcome.

Bradley-Terry and its tie models (Davidson, Rao-Kupper) depend on a log of battles only through, for every
unordered pair ``i < j``, the (weighted) number of times ``i`` won, ``j`` won, and they tied. A log of any
size is reduced to that table (at most ``n(n-1)/2`` rows) and every fit, interval and bootstrap runs on it.

``count_pairwise`` reduces integer arrays in memory; :mod:`prefkit.storage.arena_scan` reduces files that do
not fit in memory with a streaming DuckDB query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_BOTH_BAD, OUTCOME_TIE
from prefkit.errors import ValidationError


@dataclass(frozen=True, eq=False)
class CountTable:
    """Counts per unordered pair ``i[p] < j[p]``: ``win`` (i beat j), ``loss`` (j beat i), ``tie``.

    ``tie`` includes "both bad" ties. Counts may be weighted (non-integer). ``names`` maps item codes to names.
    """

    n_items: int
    i: np.ndarray
    j: np.ndarray
    win: np.ndarray
    loss: np.ndarray
    tie: np.ndarray
    names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.names and len(self.names) != self.n_items:
            raise ValidationError(f"names has {len(self.names)} entries for n_items={self.n_items}")

    @property
    def n_pairs(self) -> int:
        return len(self.i)

    @property
    def total(self) -> np.ndarray:
        """Battles per pair."""
        return self.win + self.loss + self.tie

    @property
    def n_battles(self) -> float:
        return float(self.total.sum())

    @property
    def cells(self) -> np.ndarray:
        """The counts as a ``(3, n_pairs)`` array: rows win, loss, tie."""
        return np.stack([self.win, self.loss, self.tie])

    def item_names(self) -> list[str]:
        return list(self.names) if self.names else [str(k) for k in range(self.n_items)]

    def with_cells(self, cells: np.ndarray) -> CountTable:
        """The same pairs with other counts (``cells`` shaped like :attr:`cells`)."""
        return CountTable(self.n_items, self.i, self.j, cells[0], cells[1], cells[2], self.names)

    def drop_ties(self) -> CountTable:
        return CountTable(
            self.n_items, self.i, self.j, self.win, self.loss, np.zeros_like(self.tie), self.names
        )

    def matrix(self) -> np.ndarray:
        """Dense ``(n, n)`` matrix ``M[a, b]`` = wins of a over b + half the ties (the "half" convention)."""
        m = np.zeros((self.n_items, self.n_items))
        np.add.at(m, (self.i, self.j), self.win + 0.5 * self.tie)
        np.add.at(m, (self.j, self.i), self.loss + 0.5 * self.tie)
        return m


@dataclass(frozen=True)
class ItemTotals:
    """Per-item totals of a count table."""

    battles: np.ndarray
    wins: np.ndarray
    losses: np.ndarray
    ties: np.ndarray


def item_totals(table: CountTable) -> ItemTotals:
    """Battles, wins, losses and ties of every item."""
    n = table.n_items

    def both(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.bincount(table.i, x, minlength=n) + np.bincount(table.j, y, minlength=n)

    return ItemTotals(
        battles=both(table.total, table.total),
        wins=both(table.win, table.loss),
        losses=both(table.loss, table.win),
        ties=both(table.tie, table.tie),
    )


def _check_weights(weight: np.ndarray | None, n: int) -> np.ndarray:
    if weight is None:
        return np.ones(n)
    w = np.asarray(weight, dtype=np.float64).reshape(-1)
    if len(w) != n:
        raise ValidationError(f"weight has {len(w)} entries for {n} judgments; pass one weight per row")
    if not np.all(np.isfinite(w)):
        raise ValidationError("weight contains NaN or infinite values; drop those rows or give them a weight")
    if np.any(w < 0):
        raise ValidationError("weight contains negative values; weights must be >= 0")
    return w


def count_pairwise(
    a: Sequence[int] | np.ndarray,
    b: Sequence[int] | np.ndarray,
    outcome: Sequence[int] | np.ndarray,
    *,
    n_items: int | None = None,
    weight: Sequence[float] | np.ndarray | None = None,
    names: Sequence[str] = (),
) -> CountTable:
    """Reduce pairwise judgments (item codes ``a``, ``b``; ``outcome`` as in :mod:`prefkit.data.model`).

    Rows with ``a == b`` are rejected; ``OUTCOME_BOTH_BAD`` counts as a tie. Only pairs that occur are kept.
    """
    a = np.asarray(a, dtype=np.int64).reshape(-1)
    b = np.asarray(b, dtype=np.int64).reshape(-1)
    outcome = np.asarray(outcome, dtype=np.int64).reshape(-1)
    if not (len(a) == len(b) == len(outcome)):
        raise ValidationError(f"a, b and outcome differ in length ({len(a)}, {len(b)}, {len(outcome)})")
    w = _check_weights(None if weight is None else np.asarray(weight), len(a))
    if n_items is None:
        n_items = int(max(a.max(initial=-1), b.max(initial=-1))) + 1
        if names:
            n_items = max(n_items, len(names))
    if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n_items):
        raise ValidationError(f"item codes must lie in 0..{n_items - 1}; got codes outside that range")
    if np.any(a == b):
        k = int(np.flatnonzero(a == b)[0])
        raise ValidationError(f"row {k} compares item {a[k]} with itself; remove self-comparisons")
    valid = np.isin(outcome, [OUTCOME_A, OUTCOME_B, OUTCOME_TIE, OUTCOME_BOTH_BAD])
    if not np.all(valid):
        k = int(np.flatnonzero(~valid)[0])
        raise ValidationError(
            f"row {k} has outcome {outcome[k]}; expected 0 (a), 1 (b), 2 (tie) or 3 (both bad)"
        )
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    flipped = a > b
    # cell 0: lo won, 1: hi won, 2: tie
    cell = np.where(outcome >= OUTCOME_TIE, 2, np.where((outcome == OUTCOME_A) != flipped, 0, 1))
    key = lo * n_items + hi
    uniq, inv = np.unique(key, return_inverse=True)
    counts = np.zeros((3, len(uniq)))
    np.add.at(counts, (cell, inv), w)
    return CountTable(
        n_items=int(n_items),
        i=(uniq // n_items).astype(np.int32),
        j=(uniq % n_items).astype(np.int32),
        win=counts[0],
        loss=counts[1],
        tie=counts[2],
        names=tuple(names),
    )


def count_table_from_cells(
    i: np.ndarray, j: np.ndarray, cell: np.ndarray, count: np.ndarray, n_items: int, names: Sequence[str] = ()
) -> CountTable:
    """Build a table from ordered ``(i, j, cell, count)`` rows (cell 0: i won, 1: j won, 2: tie); merges duplicates."""
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    cell = np.asarray(cell, dtype=np.int64)
    count = _check_weights(np.asarray(count, dtype=np.float64), len(i))
    flipped = i > j
    cell = np.where((cell < 2) & flipped, 1 - cell, cell)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    keep = lo != hi
    key = (lo * n_items + hi)[keep]
    uniq, inv = np.unique(key, return_inverse=True)
    counts = np.zeros((3, len(uniq)))
    np.add.at(counts, (cell[keep], inv), count[keep])
    return CountTable(
        n_items,
        (uniq // n_items).astype(np.int32),
        (uniq % n_items).astype(np.int32),
        counts[0],
        counts[1],
        counts[2],
        names=tuple(names),
    )


def merge_count_tables(tables: Sequence[CountTable]) -> CountTable:
    """One table from several (shards of one log, each with its own names): names sorted, counts added.

    Every table must carry ``names``. The merged table is the table of the concatenated logs (a pair's counts
    are sums over the tables), so reducing shards one by one and merging equals reducing them all at once.
    """
    if not tables:
        raise ValidationError("no count tables to merge; give at least one")
    if any(len(t.names) != t.n_items for t in tables):
        raise ValidationError("every count table to merge needs its item names")
    names = sorted(set().union(*(t.names for t in tables)))
    code = {name: k for k, name in enumerate(names)}
    i, j, cell, count = [], [], [], []
    for t in tables:
        lut = np.asarray([code[n] for n in t.names], dtype=np.int64)
        for c, col in enumerate((t.win, t.loss, t.tie)):
            i.append(lut[t.i])
            j.append(lut[t.j])
            cell.append(np.full(t.n_pairs, c, dtype=np.int64))
            count.append(np.asarray(col, dtype=np.float64))
    return count_table_from_cells(
        np.concatenate(i), np.concatenate(j), np.concatenate(cell), np.concatenate(count), len(names), names
    )
