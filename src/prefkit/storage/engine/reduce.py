"""Leaderboard statistics on Ray: Parquet shards -> per-block cells -> one count table (or ``info`` summary).

Ray Data streams the work list (one piece per row group of every shard, from the Parquet footers) to the
workers; each reads its row groups with pyarrow (only the columns the statistics need) and reduces them, by
:func:`reduce_table`, to their distinct ``(model_a, model_b, winner)`` cells with their battles
and weight sums, plus the number of rows that break the weight / tstamp rules (the SQL rules of
:mod:`prefkit.storage.arena_scan`, vectorised). The driver merges the blocks of each shard, checks the distinct
names and labels with the arena reader's own rules (as :func:`~prefkit.storage.arena_scan.scan_cells` does),
turns each shard into a count table with :func:`~prefkit.ranking.counts.count_table_from_cells` and merges them
with :func:`~prefkit.ranking.counts.merge_count_tables` — the same functions as the local engine, so the
fit and the bootstrap (on the driver, unchanged) give the same leaderboard.

Shards the block reduction does not vouch for are read by the local engine's reader, one Ray task per shard
(:func:`prefkit.storage.rank_input.from_file`: DuckDB, then the row reader): shards with ``id`` / ``battle_id``
columns (unique ids are checked per file), text columns, one-hot winners, weights or timestamps written as
text, files that are not Parquet, and every shard where a block found a broken rule. That task reports the
exact ``FILE:LINE`` problem, naming the shard, as the local engine does; or returns its counts.
"""

from __future__ import annotations

import logging
import pickle
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prefkit._optional import require
from prefkit.data import graph
from prefkit.data.formats import arena
from prefkit.data.formats._common import name as id_name
from prefkit.data.index import ItemIndex
from prefkit.data.summary import Summary
from prefkit.errors import EngineError, PrefkitError, ValidationError
from prefkit.ranking.counts import CountTable, count_table_from_cells, merge_count_tables
from prefkit.storage import rank_input, shards
from prefkit.storage.engine.connect import connect_ray

_PATH = "path"  # the column Ray Data adds with include_paths
_CONTEXT = ("judge", "question_id")  # what `info` also counts (annotators, contexts)


# -- which shards the block reduction reads --------------------------------------------------------------


def _is_text(t: Any) -> bool:
    pa = require("pyarrow")
    if pa.types.is_dictionary(t):
        t = t.value_type
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _is_number(t: Any) -> bool:
    pa = require("pyarrow")
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t))


def block_columns(path: str | Path, *, info: bool = False) -> tuple[tuple[str, str], ...] | None:
    """The ``(column, type)`` pairs the block reduction reads from this shard, or None when it leaves the shard
    to the local reader (not Parquet, ids, texts, one-hot winners, numbers written as text...)."""
    pq = require("pyarrow.parquet")
    if Path(path).suffix.lower() != ".parquet":
        return None
    try:
        schema = pq.read_schema(path)
    except Exception:  # noqa: BLE001 - unreadable: the local reader says why, with the file's name
        return None
    types = {f.name: f.type for f in schema}
    if len(types) != len(schema.names):
        return None
    if any(c in types for c in (*arena.ID_COLUMNS, *arena.TEXT_COLUMNS)):
        return None
    if not all(c in types and _is_text(types[c]) for c in arena.REQUIRED):
        return None
    cols = [(c, "text") for c in arena.REQUIRED]
    if "weight" in types:
        if not _is_number(types["weight"]):
            return None
        cols.append(("weight", "number"))
    if "tstamp" in types:
        pa = require("pyarrow")
        t = types["tstamp"]
        if _is_number(t):
            cols.append(("tstamp", "number"))
        elif not (pa.types.is_timestamp(t) or pa.types.is_date(t)):
            return None
    if info:
        for c in _CONTEXT:
            if c in types:
                if not (_is_text(types[c]) or _is_integer(types[c])):
                    return None
                cols.append((c, "id"))
    return tuple(cols)


def _is_integer(t: Any) -> bool:
    pa = require("pyarrow")
    return bool(pa.types.is_integer(t))


# -- the block reduction (runs on the workers) -------------------------------------------------------------


@dataclass
class Part:
    """What one block (or several, merged) holds of one shard: distinct cells and their totals."""

    a: list[Any] = field(default_factory=list)
    b: list[Any] = field(default_factory=list)
    winner: list[Any] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    weight: list[np.ndarray] = field(default_factory=list)
    broken: int = 0  # rows breaking the weight / tstamp rules
    judges: set[Any] = field(default_factory=set)
    contexts: set[Any] = field(default_factory=set)

    def add(self, other: Part) -> None:
        self.a += other.a
        self.b += other.b
        self.winner += other.winner
        self.rows += other.rows
        self.weight += other.weight
        self.broken += other.broken
        self.judges |= other.judges
        self.contexts |= other.contexts


def _numbers(col: Any) -> tuple[np.ndarray, np.ndarray]:
    pa = require("pyarrow")
    arr = col.combine_chunks() if hasattr(col, "combine_chunks") else col
    arr = arr.cast(pa.float64())
    missing = arr.is_null().to_numpy(zero_copy_only=False)
    return arr.fill_null(0.0).to_numpy(zero_copy_only=False), missing


def reduce_table(t: Any) -> Part:
    """One shard's rows (a pyarrow table) -> its :class:`Part` (cells, battles and weight per cell, broken rows)."""
    pa = require("pyarrow")
    part = Part()
    cols = t.column_names
    if "weight" in cols:
        w, missing = _numbers(t.column("weight"))
        part.broken += int(np.sum(~missing & ~(np.isfinite(w) & (w >= 0))))
        w = np.where(missing, 1.0, w)
    else:
        w = np.ones(t.num_rows)
    if "tstamp" in cols and _is_number(t.schema.field("tstamp").type):
        ts, missing = _numbers(t.column("tstamp"))
        part.broken += int(np.sum(~missing & np.isinf(ts)))
    keys = {c: t.column(c).cast(pa.string()) for c in arena.REQUIRED}
    cells = pa.table({**keys, "w": pa.array(w, pa.float64())})
    g = cells.group_by(list(arena.REQUIRED)).aggregate([("w", "sum"), ([], "count_all")])
    part.a = g.column("model_a").to_pylist()
    part.b = g.column("model_b").to_pylist()
    part.winner = g.column("winner").to_pylist()
    part.weight = [g.column("w_sum").to_numpy(zero_copy_only=False).astype(np.float64)]
    part.rows = [g.column("count_all").to_numpy(zero_copy_only=False).astype(np.int64)]
    if "judge" in cols:
        part.judges = set(t.column("judge").unique().to_pylist())
    if "question_id" in cols:
        part.contexts = set(t.column("question_id").unique().to_pylist())
    return part


def reduce_pieces(batch: dict[str, Any]) -> dict[str, list[Any]]:
    """A Ray Data batch of pieces (shard path, row group, columns) -> per piece: its path and pickled Part.

    Each worker reads its row groups straight from the shard (pyarrow; only the statistics' columns) and reduces
    them, so a battle crosses the network only as part of a few distinct cells.
    """
    pq = require("pyarrow.parquet")
    out: dict[str, list[Any]] = {_PATH: [], "part": []}
    for path, group, cols in zip(batch[_PATH], batch["row_group"], batch["columns"], strict=True):
        rows = pq.ParquetFile(str(path)).read_row_groups([int(group)], columns=str(cols).split("\t"))
        out[_PATH].append(str(path))
        out["part"].append(pickle.dumps(reduce_table(rows), protocol=pickle.HIGHEST_PROTOCOL))
    return out


# -- on the driver -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardCells:
    """One shard's checked cells: names, ``outcome`` codes (0-3), battles and weight per cell; judges, contexts."""

    a: list[str]
    b: list[str]
    outcome: np.ndarray
    rows: np.ndarray
    weight: np.ndarray
    judges: frozenset[str]
    contexts: frozenset[str]


def checked(part: Part) -> ShardCells | None:
    """The shard's cells when every row keeps the arena reader's rules (None: the local reader must say why)."""
    if part.broken or not part.a:
        return None
    if not all(arena.name_ok(x) for x in set(part.a) | set(part.b)):
        return None
    if not all(arena.winner_ok(x) for x in set(part.winner)):
        return None
    if any(x == y for x, y in zip(part.a, part.b, strict=True)):
        return None
    judges = frozenset(n for n in (id_name(j) for j in part.judges) if n is not None)
    contexts = frozenset(n for n in (id_name(q) for q in part.contexts) if n is not None)
    return ShardCells(
        part.a,
        part.b,
        np.asarray([arena.WINNERS[w] for w in part.winner], dtype=np.int64),
        np.concatenate(part.rows),
        np.concatenate(part.weight),
        judges,
        contexts,
    )


def cells_counts(cells: ShardCells) -> CountTable:
    """A shard's count table (names sorted), built as :func:`prefkit.storage.arena_scan.scan_counts` builds it."""
    names = ItemIndex(sorted(set(cells.a) | set(cells.b)))
    i, j = names.encode(cells.a), names.encode(cells.b)
    return count_table_from_cells(i, j, np.minimum(cells.outcome, 2), cells.weight, len(names), names.names)


def _local_counts(path: str) -> CountTable:
    """The local engine's reader on one shard (a Ray task): its counts, or its exact FILE:LINE error."""
    t = rank_input.from_file(path, method="bt")
    if not isinstance(t, CountTable):  # pragma: no cover - pooled fits always read count tables
        raise ValidationError(f"{path}: not a battle log")
    return t


def _local_cells(path: str) -> ShardCells:
    """The row reader on one shard (a Ray task), for ``info``: its cells, judges and contexts, or its error."""
    from prefkit.data import io

    if io.detect_format(path) != "arena":
        raise ValidationError(f"{path}: --engine ray summarises arena battle logs; this file is not one")
    ds = io.read(path, "arena")
    pw = ds.pairwise
    names = ds.items.names
    a = [names[int(k)] for k in pw.a]
    b = [names[int(k)] for k in pw.b]
    used_ann = {ds.annotators.names[int(k)] for k in np.unique(pw.annotator) if k >= 0}
    used_ctx = {ds.contexts.names[int(k)] for k in np.unique(pw.context) if k >= 0}
    return ShardCells(
        a,
        b,
        np.asarray(pw.outcome, dtype=np.int64),
        np.ones(len(a), dtype=np.int64),
        np.asarray(pw.weight, dtype=np.float64) if pw.weight is not None else np.ones(len(a)),
        frozenset(used_ann),
        frozenset(used_ctx),
    )


@contextmanager
def ray_session(address: str | None, timeout_s: float = 10.0) -> Iterator[Any]:
    """``ray`` connected to ``address`` for the duration; disconnects afterwards only if it connected."""
    ray = require("ray", "ray")
    was = ray.is_initialized()
    ray = connect_ray(address, timeout_s=timeout_s)
    with warnings.catch_warnings():  # Ray's own defaults warn of its deprecations when the context is made
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ray.data.DataContext.get_current()
    logging.getLogger("ray.data").setLevel(
        logging.ERROR
    )  # after ray.data set up its logging: stderr stays ours
    ctx.enable_progress_bars = False  # prefkit shows its own
    ctx.print_on_execution_start = False
    try:
        yield ray
    finally:
        if not was:
            ray.shutdown()


def _unwrap(ray: Any, exc: Exception) -> Exception:
    """The PrefkitError a Ray task raised (its exact message), else an EngineError naming what failed."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, PrefkitError):
        return cause
    if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(cause, Exception):
        return EngineError(f"a Ray task failed: {type(cause).__name__}: {cause}")
    return EngineError(f"the Ray cluster lost the work: {type(exc).__name__}: {exc}")


def pieces(paths: Sequence[str], *, info: bool = False) -> list[dict[str, Any]]:
    """The work list of the block reduction: one piece per row group of every shard it reads (footers only)."""
    pq = require("pyarrow.parquet")
    out = []
    for p in paths:
        cols = block_columns(p, info=info)
        if cols is None:
            continue
        names = "\t".join(c for c, _ in cols)
        for k in range(pq.ParquetFile(p).num_row_groups):
            out.append({_PATH: p, "row_group": k, "columns": names})
    return out


def _run_blocks(
    ray: Any,
    paths: list[str],
    info: bool,
    progress: Callable[[int], object] | None,
    finish: Callable[[str, Part], bool],
) -> set[str]:
    """Reduce every row group of the shards the block reduction reads, streamed by Ray Data.

    A shard's :class:`Part` goes to ``finish`` as soon as its last row group is in (so the driver holds only the
    shards in flight); returns the shards ``finish`` accepted (the others go to the local reader).
    """
    work = pieces(paths, info=info)
    done: set[str] = set()
    if not work:
        return done
    left = {p: 0 for p in paths}
    for w in work:
        left[w[_PATH]] += 1
    parts: dict[str, Part] = {}
    ds = ray.data.from_items(work, override_num_blocks=len(work))
    out = ds.map_batches(reduce_pieces, batch_format="numpy", batch_size=None)
    for batch in out.iter_batches(batch_format="numpy", batch_size=None):
        for path, blob in zip(batch[_PATH], batch["part"], strict=True):
            shard = str(path)
            new = pickle.loads(blob)  # noqa: S301 - our own workers' output
            if shard in parts:
                parts[shard].add(new)
            else:
                parts[shard] = new
            left[shard] -= 1
            if not left[shard]:
                if finish(shard, parts.pop(shard)):
                    done.add(shard)
                if progress is not None:
                    progress(1)
    return done


def _each_shard(
    ray: Any,
    paths: list[str],
    info: bool,
    progress: Callable[[int], object] | None,
    take: Callable[[ShardCells | CountTable], None],
) -> None:
    """Hand every shard's result to ``take``: its checked cells (block reduction), else the local reader's counts
    (rank) or cells (info), one Ray task per shard; the first bad shard in shard order raises its error."""

    def finish(shard: str, part: Part) -> bool:
        cells = checked(part)
        if cells is not None:
            take(cells)
        return cells is not None

    try:
        done = _run_blocks(ray, paths, info, progress, finish)
        rest = [p for p in paths if p not in done]
        task = ray.remote(_local_cells if info else _local_counts).options(num_cpus=1, max_retries=1)
        futures = {p: task.remote(p) for p in rest}
        for p in rest:
            take(ray.get(futures[p]))
            if progress is not None:
                progress(1)
    except ray.exceptions.RayTaskError as exc:  # also an instance of the task's error class: unwrap first
        raise _unwrap(ray, exc) from None
    except PrefkitError:
        raise
    except Exception as exc:  # noqa: BLE001 - Ray wraps task errors; unwrap ours, name the rest
        raise _unwrap(ray, exc) from None


_MERGE_EVERY = 32  # shard tables held before they are merged into one (bounds the driver's memory)


def ray_counts(
    spec: str | Path,
    *,
    address: str | None = None,
    progress: Callable[[int], object] | None = None,
    timeout_s: float = 10.0,
) -> CountTable:
    """The count table of a battle log (a file, a directory of Parquet shards or a glob) reduced on Ray.

    Equals the local engine's (:func:`prefkit.storage.rank_input.from_shards`) on the same files. The driver
    merges the shards' tables as they arrive, so it holds a few count tables, never the battles.
    """
    paths = [str(p) for p in shards.resolve_shards(spec)]
    tables: list[CountTable] = []

    def take(r: ShardCells | CountTable) -> None:
        tables.append(r if isinstance(r, CountTable) else cells_counts(r))
        if len(tables) >= _MERGE_EVERY:
            tables[:] = [merge_count_tables(tables)]

    with ray_session(address, timeout_s) as ray:
        _each_shard(ray, paths, False, progress, take)
    return merge_count_tables(tables)


def ray_summary(
    spec: str | Path,
    *,
    address: str | None = None,
    progress: Callable[[int], object] | None = None,
    timeout_s: float = 10.0,
    max_components: int | None = None,
) -> Summary:
    """What ``prefkit info`` reports of an arena battle log (a file, a directory or a glob), reduced on Ray.

    Equals the local summary of the same battles in one file.
    """
    paths = [str(p) for p in shards.resolve_shards(spec)]
    cells: list[ShardCells] = []

    def take(r: ShardCells | CountTable) -> None:
        assert isinstance(r, ShardCells)  # info reads cells
        cells.append(r)

    with ray_session(address, timeout_s) as ray:
        _each_shard(ray, paths, True, progress, take)
    return summary_of(cells, max_components)


def summary_of(cells: Sequence[ShardCells], max_components: int | None = None) -> Summary:
    """The summary of the battles of several shards (items, battles, ties, pairs, components, judges, contexts)."""
    names = ItemIndex(sorted(set().union(*(set(c.a) | set(c.b) for c in cells))))
    a = np.concatenate([names.encode(c.a) for c in cells]).astype(np.int64)
    b = np.concatenate([names.encode(c.b) for c in cells]).astype(np.int64)
    outcome = np.concatenate([c.outcome for c in cells])
    rows = np.concatenate([c.rows for c in cells])
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keys = np.unique((lo << 32) | hi)
    n = len(names)
    labels = graph.components(n, keys >> 32, keys & 0xFFFFFFFF)
    n_comp = int(labels.max()) + 1 if n else 0
    comps: list[list[str]] = []
    if n_comp > 1:
        order = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[order], np.arange(n_comp + 1))
        for c in range(n_comp if max_components is None else min(n_comp, max_components)):
            comps.append([names.names[i] for i in order[bounds[c] : bounds[c + 1]]])
    pairwise = int(rows.sum())
    return Summary(
        format="arena",
        items=n,
        judgments=pairwise,
        pairwise=pairwise,
        rankings=0,
        ratings=0,
        ties=int(rows[outcome >= 2].sum()),
        both_bad=int(rows[outcome == 3].sum()),
        annotators=len(frozenset().union(*(c.judges for c in cells))),
        contexts=len(frozenset().union(*(c.contexts for c in cells))),
        criteria=["overall"],
        distinct_pairs=len(keys),
        connected=n_comp <= 1,
        n_components=n_comp,
        components=comps,
    )
