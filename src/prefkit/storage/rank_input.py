"""What a leaderboard is fitted on, from a file or from the project store, through the one reader per format.

An arena log goes through the DuckDB fast path (:mod:`prefkit.storage.arena_scan`) when DuckDB is installed
and the fast path vouches for the file; otherwise (no DuckDB, a bad row, syntax only the row reader judges)
through the row reader :mod:`prefkit.data.formats.arena`, which reports the exact ``FILE:LINE`` problem or
returns the data. Either way the result is the same: names sorted, the same counts. Other formats are read with
:func:`prefkit.data.io.read`; the store with :meth:`prefkit.storage.store.ProjectStore.to_dataset`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from prefkit.data import io
from prefkit.data.model import Dataset
from prefkit.errors import InputError, MissingDependencyError, ValidationError
from prefkit.ranking.counts import CountTable, merge_count_tables
from prefkit.ranking.leaderboard_data import Battles, Rankings, renumber_sorted, sorted_battles
from prefkit.storage import arena_battles, arena_scan, shards

RankInput = Battles | CountTable | Rankings
POOLED = ("bt", "davidson", "rao-kupper")


def _pooled(method: str, style: bool) -> bool:
    """True when the fit needs only the count table (no order, no per-battle features)."""
    return method in POOLED and not style


def from_file(path: str | Path, *, method: str = "bt", style: bool = False) -> RankInput:
    """The input of :func:`prefkit.ranking.leaderboard.build_leaderboard` read from a data file."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file; check the path", path=p)
    fmt = io.detect_format(p)
    if fmt != "arena" or io.arena_without_winner(p):  # one-hot winner columns: the row reader maps them
        return from_dataset(io.read(p, fmt), method=method, style=style)
    try:
        if _pooled(method, style):
            return arena_scan.scan_counts(p)
        return arena_battles.read_battles(p, style=style)
    except MissingDependencyError:
        if style:
            raise
    return from_dataset(io.read(p, "arena"), method=method, style=style)


def check_sharded(method: str, style: bool) -> None:
    """Several shards are ranked through their count table: only the pooled fits, without style control."""
    if style:
        raise ValidationError(
            "--style-control needs every battle's style features, which do not reduce to a count table; rank one "
            "file (merge the shards first, e.g. with duckdb COPY) or drop --style-control"
        )
    if not _pooled(method, style):
        raise ValidationError(
            f"--method {method} needs the battles one by one, in order; shards (a directory or a glob) are ranked "
            f"through their count table: use --method {' | '.join(POOLED)}"
        )


def from_shards(
    spec: str | Path, *, method: str = "bt", style: bool = False, progress: Callable[[int], object] | None = None
) -> RankInput:
    """A file, a directory of Parquet shards or a glob, on this machine: each shard through :func:`from_file`
    (the DuckDB scan, the same errors), the count tables merged (names sorted)."""
    if not shards.is_sharded(spec):
        return from_file(spec, method=method, style=style)
    check_sharded(method, style)
    tables = []
    for p in shards.resolve_shards(spec):
        t = from_file(p, method=method)
        assert isinstance(t, CountTable)  # pooled fits read count tables
        tables.append(t)
        if progress is not None:
            progress(1)
    return merge_count_tables(tables)


def from_store(
    db: str | Path,
    *,
    method: str = "bt",
    style: bool = False,
    criterion: str | None = None,
    source: str | None = None,
    annotator_kind: str | None = None,
) -> RankInput:
    """The input of a leaderboard from the judgments of a project store, optionally filtered."""
    from prefkit.storage.store import ProjectStore

    if style:
        raise ValidationError(
            "--style-control needs per-battle style features, which the store does not keep; rank the "
            "original arena log instead"
        )
    with ProjectStore(db, create=False) as store:
        ds = store.to_dataset(
            criterion=criterion,
            annotator_kind=annotator_kind,
            source=source,
            shapes=("pairwise", "rankings"),
        )
    used = np.unique(np.concatenate([ds.pairwise.criterion, ds.rankings.criterion]).astype(np.int64))
    if len(used) > 1:
        names = ", ".join(ds.criteria.names[int(c)] for c in used)
        raise ValidationError(
            f"{db} holds judgments on {len(used)} criteria ({names}); rank one at a time with --criterion NAME"
        )
    if not len(ds.pairwise) and not len(ds.rankings):
        raise ValidationError(f"{db}: no pairwise judgments or rankings match the filters; check them")
    return from_dataset(ds, method=method, style=style)


def from_dataset(ds: Dataset, *, method: str = "bt", style: bool = False) -> RankInput:
    """Rankings for Plackett-Luce when there are any, else the pairwise judgments (names sorted, unused dropped)."""
    if method == "pl" and len(ds.rankings):
        rk = ds.rankings
        (members,), names = renumber_sorted(ds.items.names, rk.members)
        return Rankings(rk.offsets, members, rk.level, names)
    if style:
        raise ValidationError(
            f"{ds.source}: style control needs an arena log with style_* or conv_metadata columns"
        )
    pw = ds.pairwise
    if not len(pw) and len(ds.rankings):
        raise ValidationError(
            f"{ds.source}: the data hold {len(ds.rankings)} K-wise rankings and no pairwise judgments; rank them "
            "with --method pl"
        )
    battles = sorted_battles(pw.a, pw.b, pw.outcome, ds.items.names, pw.weight)
    return battles.counts() if _pooled(method, style) else battles
