"""Leaderboards per criterion: pick the judgments of one criterion (with its hierarchical children), never
pool criteria silently.

Criteria are names; a ``/`` makes a hierarchy: ``quality/temporal`` and ``quality/visual`` roll up to
``quality`` (as MJ-VIDEO's fine-grained criteria roll up to its aspects). Selecting ``quality`` takes the
judgments of ``quality`` itself and of every ``quality/...`` below it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prefkit.data.model import Dataset
from prefkit.errors import ValidationError
from prefkit.ranking.leaderboard_data import Battles, Rankings

__all__ = [
    "ALL",
    "criteria_used",
    "criteria_with_rollups",
    "leaf_criteria",
    "resolve_criteria",
    "select_criterion",
]

ALL = "all"


def criteria_used(ds: Dataset) -> list[str]:
    """The criteria that have at least one pairwise or ranking judgment, in index order."""
    codes = np.union1d(ds.pairwise.criterion, ds.rankings.criterion).astype(np.int64)
    return [ds.criteria.name(int(c)) for c in codes]


def criteria_with_rollups(names: Sequence[str]) -> list[str]:
    """``names`` plus every parent of a hierarchical name (``a/b/c`` adds ``a`` and ``a/b``), sorted so that
    a parent comes right before its children."""
    out: set[str] = set()
    for n in names:
        parts = n.split("/")
        for k in range(1, len(parts) + 1):
            out.add("/".join(parts[:k]))
    return sorted(out, key=lambda s: s.split("/"))


def leaf_criteria(names: Sequence[str]) -> list[str]:
    """The names with no child among ``names`` (the criteria a Pareto view compares)."""
    return [n for n in names if not any(m.startswith(n + "/") for m in names)]


def resolve_criteria(ds: Dataset, criterion: str | None) -> list[str] | None:
    """The criteria to rank, or None when the file has one criterion and none was asked for.

    ``None`` on a file with several criteria is refused (pooling them would rank nothing meaningful);
    ``"all"`` gives every criterion plus the roll-ups of hierarchical ones; an unknown name lists the known.
    """
    used = criteria_used(ds)
    known = criteria_with_rollups(used)
    where = f"{ds.source}: " if ds.source else ""
    if criterion is None:
        if len(used) <= 1:
            return None
        raise ValidationError(
            f"{where}the file has {len(used)} criteria ({', '.join(used)}); pooling them would mix "
            f"different questions: pass --criterion NAME or --criterion all"
        )
    if criterion == ALL:
        return known
    if criterion not in known:
        raise ValidationError(
            f"{where}unknown --criterion {criterion!r}; the file has: {', '.join(known) or '(none)'}"
            " (or use --criterion all)"
        )
    return [criterion]


def _mask(ds: Dataset, codes: np.ndarray, criterion: str) -> np.ndarray:
    names = ds.criteria.names
    chosen = np.array(
        [i for i, n in enumerate(names) if n == criterion or n.startswith(criterion + "/")], dtype=np.int64
    )
    return np.isin(codes, chosen)


def select_criterion(ds: Dataset, criterion: str, method: str) -> Battles | Rankings:
    """The judgments of ``criterion`` (and its children) as leaderboard input: rankings for ``pl`` when the
    file has rankings, else the pairwise battles."""
    names = tuple(ds.items.names)
    if method == "pl" and len(ds.rankings):
        rk = ds.rankings.take(np.flatnonzero(_mask(ds, ds.rankings.criterion, criterion)))
        return Rankings(rk.offsets, rk.members, rk.level, names)
    pw = ds.pairwise
    keep = _mask(ds, pw.criterion, criterion)
    if not keep.any():
        raise ValidationError(
            f"criterion {criterion!r} has no pairwise judgments; use --method pl for its rankings"
        )
    return Battles(pw.a[keep], pw.b[keep], pw.outcome[keep], names, weight=pw.weight[keep])
