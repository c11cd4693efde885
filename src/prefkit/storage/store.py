"""The project store: one SQLite file (WAL) holding items, contexts, annotators and judgments.

Imports are idempotent (every judgment has a stable key, see :mod:`prefkit.storage.keys`; importing the same
data twice stores nothing twice) and atomic (one ``BEGIN IMMEDIATE`` transaction per import: an import that
fails half-way leaves the store exactly as it was).

    with ProjectStore("project.db") as store:
        report = store.import_file("battles.jsonl")
        ds = store.to_dataset(criterion="overall")
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from prefkit.data.model import Dataset
from prefkit.errors import InputError, StoreError, ValidationError
from prefkit.storage import _insert as W
from prefkit.storage import keys as K
from prefkit.storage import responses
from prefkit.storage._entities import upsert_all
from prefkit.storage.db import connect, migrate, schema_version
from prefkit.storage.schema import MIGRATIONS, NAMESPACE

CACHE_KIB = 256 * 1024  # page-cache ceiling: keeps the judgment indexes of big imports in memory
Progress = W.Progress


@dataclass(frozen=True)
class ShapeCount:
    """Judgments of one shape in an import: newly stored, and already present (skipped)."""

    added: int = 0
    duplicates: int = 0


@dataclass(frozen=True)
class ImportReport:
    """What one import did."""

    source: str | None
    format: str | None
    sha256: str | None
    pairwise: ShapeCount
    rankings: ShapeCount
    ratings: ShapeCount
    new_items: int
    new_contexts: int
    new_annotators: int
    seconds: float

    @property
    def added(self) -> int:
        return self.pairwise.added + self.rankings.added + self.ratings.added

    @property
    def duplicates(self) -> int:
        return self.pairwise.duplicates + self.rankings.duplicates + self.ratings.duplicates

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["added"], out["duplicates"] = self.added, self.duplicates
        return out


@dataclass(frozen=True)
class StoreCounts:
    """Rows per table."""

    items: int
    contexts: int
    annotators: int
    criteria: int
    attributes: int
    pairwise: int
    rankings: int
    ratings: int
    imports: int


@dataclass(frozen=True)
class ImportRecord:
    """One row of the store's import history."""

    id: int
    source: str | None
    sha256: str | None
    format: str | None
    time: str
    counts: dict[str, Any]


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class ProjectStore:
    """A prefkit project file. ``create=False`` refuses a path that does not exist yet."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists():
            if not create:
                raise StoreError(f"{self.path}: no such store; import data into it first (prefkit import)")
            if not self.path.parent.is_dir():
                raise StoreError(
                    f"{self.path.parent}: no such directory; create it or give another --db path"
                )
        self._conn: sqlite3.Connection | None = connect(self.path)
        try:
            self._conn.execute("PRAGMA temp_store=MEMORY")
            self._conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            migrate(self._conn, NAMESPACE, MIGRATIONS)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(f"{self.path}: cannot open as a prefkit store ({exc})") from exc
        except BaseException:
            self.close()
            raise

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.path}: the store is closed")
        return self._conn

    @property
    def version(self) -> int:
        return schema_version(self.conn, NAMESPACE)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> ProjectStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ProjectStore({str(self.path)!r})"

    # -- reading ---------------------------------------------------------------------------------------

    def counts(self) -> StoreCounts:
        tables = ("items", "contexts", "annotators", "criteria", "attributes", "pairwise", "rankings")
        n = {t: int(self.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}
        n["ratings"] = int(self.conn.execute("SELECT count(*) FROM ratings").fetchone()[0])
        n["imports"] = int(self.conn.execute("SELECT count(*) FROM imports").fetchone()[0])
        return StoreCounts(**n)

    def imports(self) -> list[ImportRecord]:
        rows = self.conn.execute("SELECT pk, source, sha256, format, time, counts FROM imports ORDER BY pk")
        return [ImportRecord(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    def to_dataset(
        self,
        criterion: str | Sequence[str] | None = None,
        *,
        annotator_kind: str | None = None,
        source: str | None = None,
        shapes: Iterable[str] = ("pairwise", "rankings", "ratings"),
    ) -> Dataset:
        """The stored judgments as a columnar Dataset, in the order of their sources, optionally filtered.

        ``criterion``: one name or several; ``annotator_kind``: "human" or "model"; ``source``: only the
        judgments first stored by imports of this source (as recorded in :meth:`imports`); ``shapes``: a
        subset of pairwise, rankings, ratings. With a filter, only the entities the judgments use are kept.
        """
        from prefkit.storage.load import load_dataset

        return load_dataset(
            self, criterion=criterion, annotator_kind=annotator_kind, source=source, shapes=shapes
        )

    # -- importing -------------------------------------------------------------------------------------

    def import_file(
        self,
        path: str | Path,
        format: str | None = None,
        *,
        strict: bool = True,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Read ``path`` with :func:`prefkit.data.io.read` and import it (nothing is stored if reading fails).

        ``strict=False`` skips bad rows (the reader lists them in its ``meta["skipped"]``).
        """
        from prefkit.data import io

        p = Path(path)
        if p.is_dir():
            raise InputError("is a directory; give a data file", path=p)
        if not p.exists():
            raise InputError("no such file", path=p)
        ds = io.read(p, format=format, strict=strict)
        fmt = io.normalize_format(format) or ds.meta.get("format")
        return self.import_dataset(ds, source=str(p), format=fmt, sha256=file_sha256(p), progress=progress)

    def import_dataset(
        self,
        ds: Dataset,
        *,
        source: str | None = None,
        format: str | None = None,
        sha256: str | None = None,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Store ``ds`` in one transaction; judgments already present are skipped and counted.

        ``progress(n)`` is called after each chunk of ``n`` judgments; if it (or anything else) raises, the
        transaction is rolled back and the store is left as it was.
        """
        t0 = time.perf_counter()
        source = source if source is not None else ds.source
        _validate(ds)
        lanes: K.Lanes = {}
        pw = K.pairwise_keys(ds, ds.pairwise, lanes)
        rk = K.ranking_keys(ds, ds.rankings, lanes)
        rt = K.rating_keys(ds, ds.ratings, lanes)
        K.check_unique_ids(pw, ds.pairwise.line, source=source, shape="pairwise")
        K.check_unique_ids(rk, ds.rankings.line, source=source, shape="ranking")
        K.check_unique_ids(rt, ds.ratings.line, source=source, shape="rating")
        advance: Progress = progress or (lambda n: None)
        conn = self.conn
        # every reference written below is a pk read back in the same transaction, so per-row foreign-key
        # checks are skipped (25% of the insert time); tests run PRAGMA foreign_key_check on the result
        conn.execute("PRAGMA foreign_keys=OFF")
        try:
            report = self._import(ds, pw, rk, rt, source, format, sha256, advance)
        finally:
            conn.execute("PRAGMA foreign_keys=ON")
        return _with_seconds(report, time.perf_counter() - t0)

    def _import(
        self,
        ds: Dataset,
        pw: K.JudgmentKeys,
        rk: K.JudgmentKeys,
        rt: K.JudgmentKeys,
        source: str | None,
        format: str | None,
        sha256: str | None,
        advance: Progress,
    ) -> ImportReport:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            meta = json.dumps(_scalar_meta(ds.meta), sort_keys=True)
            cur = conn.execute(
                "INSERT INTO imports(source, sha256, format, time, counts, meta) VALUES (?, ?, ?, ?, ?, ?)",
                (source, sha256, format, datetime.now(UTC).isoformat(timespec="seconds"), "{}", meta),
            )
            imp = int(cur.lastrowid or 0)
            maps = upsert_all(conn, ds, source=source)
            for table, jk, lines in (
                ("pairwise", pw, ds.pairwise.line),
                ("rankings", rk, ds.rankings.line),
                ("ratings", rt, ds.ratings.line),
            ):
                W.check_known_ids(conn, table, jk, lines, source=source)
            n_pw = W.insert_pairwise(conn, ds, pw, maps, imp, 0, advance)
            n_rk = W.insert_rankings(conn, ds, rk, maps, imp, 0, advance)
            n_rt = W.insert_ratings(conn, ds, rt, maps, imp, 0, advance)
            responses.save(conn, ds, maps.items, maps.contexts)
            report = ImportReport(
                source=source,
                format=format,
                sha256=sha256,
                pairwise=ShapeCount(n_pw, len(ds.pairwise) - n_pw),
                rankings=ShapeCount(n_rk, len(ds.rankings) - n_rk),
                ratings=ShapeCount(n_rt, len(ds.ratings) - n_rt),
                new_items=maps.new_items,
                new_contexts=maps.new_contexts,
                new_annotators=maps.new_annotators,
                seconds=0.0,
            )
            counts = {
                k: v
                for k, v in report.to_dict().items()
                if k not in ("source", "format", "sha256", "seconds")
            }
            conn.execute("UPDATE imports SET counts = ? WHERE pk = ?", (json.dumps(counts), imp))
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"{self.path}: import failed, nothing was stored ({exc})") from exc
            raise
        return report


def new_import(conn: sqlite3.Connection, *, source: str, format: str | None = None) -> int:
    """Create an (empty) import record on ``conn`` inside the caller's transaction; return its pk.

    For producers that add judgments over time (the web service appends each committed batch of votes
    with :func:`append_dataset`); the caller commits or rolls back.
    """
    cur = conn.execute(
        "INSERT INTO imports(source, sha256, format, time, counts, meta) VALUES (?, NULL, ?, ?, ?, NULL)",
        (source, format, datetime.now(UTC).isoformat(timespec="seconds"), json.dumps(_EMPTY_COUNTS)),
    )
    return int(cur.lastrowid or 0)


def append_dataset(conn: sqlite3.Connection, ds: Dataset, *, import_id: int, seq0: int = 0) -> ShapeCount:
    """Add ``ds`` to the store on ``conn`` inside the caller's transaction (no BEGIN / COMMIT here).

    The judgments are attached to the existing import record ``import_id`` (see :func:`new_import`) at
    positions ``seq0, seq0 + 1, ...`` of each table; entities are upserted as in
    :meth:`ProjectStore.import_dataset`, judgments already present are skipped, a known id with different
    content raises InputError. The record's counts are increased. Returns the judgments added and skipped.
    On an exception the caller must roll back (to a savepoint) what this call wrote.
    """
    source = conn.execute("SELECT source FROM imports WHERE pk = ?", (import_id,)).fetchone()
    if source is None:
        raise StoreError(f"no import record {import_id}; create one with new_import first")
    src = source[0]
    _validate(ds)
    lanes: K.Lanes = {}
    pw = K.pairwise_keys(ds, ds.pairwise, lanes)
    rk = K.ranking_keys(ds, ds.rankings, lanes)
    rt = K.rating_keys(ds, ds.ratings, lanes)
    K.check_unique_ids(pw, ds.pairwise.line, source=src, shape="pairwise")
    K.check_unique_ids(rk, ds.rankings.line, source=src, shape="ranking")
    K.check_unique_ids(rt, ds.ratings.line, source=src, shape="rating")
    small = ds.n_judgments <= _SMALL and max(len(ds.items), len(ds.contexts), len(ds.annotators)) <= _SMALL
    maps = _upsert_all_small(conn, ds, src) if small else upsert_all(conn, ds, source=src)
    for table, jk, lines in (
        ("pairwise", pw, ds.pairwise.line),
        ("rankings", rk, ds.rankings.line),
        ("ratings", rt, ds.ratings.line),
    ):
        if small:
            _check_known_ids_small(conn, table, jk, lines, src)
        else:
            W.check_known_ids(conn, table, jk, lines, source=src)
    added: dict[str, tuple[int, int]] = {}
    for name, n_rows, jk, insert in (
        ("pairwise", len(ds.pairwise), pw, W.insert_pairwise),
        ("rankings", len(ds.rankings), rk, W.insert_rankings),
        ("ratings", len(ds.ratings), rt, W.insert_ratings),
    ):
        n = insert(conn, ds, jk, maps, import_id, seq0, lambda n: None)
        added[name] = (n, n_rows - n)
    row = conn.execute("SELECT counts FROM imports WHERE pk = ?", (import_id,)).fetchone()
    counts = {**_EMPTY_COUNTS, **json.loads(row[0] or "{}")}
    for name, (n, dup) in added.items():
        shape = dict(counts.get(name) or {"added": 0, "duplicates": 0})
        shape["added"] = int(shape.get("added", 0)) + n
        shape["duplicates"] = int(shape.get("duplicates", 0)) + dup
        counts[name] = shape
    counts["new_items"] = int(counts.get("new_items", 0)) + maps.new_items
    counts["new_contexts"] = int(counts.get("new_contexts", 0)) + maps.new_contexts
    counts["new_annotators"] = int(counts.get("new_annotators", 0)) + maps.new_annotators
    counts["added"] = sum(v[0] for v in added.values()) + int(counts.get("added", 0))
    counts["duplicates"] = sum(v[1] for v in added.values()) + int(counts.get("duplicates", 0))
    conn.execute("UPDATE imports SET counts = ? WHERE pk = ?", (json.dumps(counts), import_id))
    total_added = sum(v[0] for v in added.values())
    return ShapeCount(total_added, ds.n_judgments - total_added)


# Small appends (a batch of live votes) look names and ids up with IN (...) queries instead of the TEMP
# staging tables of bulk imports (whose CREATE / DROP cost milliseconds); same checks, same messages.
_SMALL = 2000
_IN_CHUNK = 500


def _in_query(
    conn: sqlite3.Connection, sql: str, keys: Sequence[Any], extra: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (with one ``{marks}`` placeholder list) for ``keys``, in chunks."""
    out: list[tuple[Any, ...]] = []
    for i in range(0, len(keys), _IN_CHUNK):
        part = list(keys[i : i + _IN_CHUNK])
        out.extend(conn.execute(sql.format(marks=", ".join("?" * len(part))), [*extra, *part]).fetchall())
    return out


def _upsert_small(
    conn: sqlite3.Connection,
    table: str,
    key: str,
    names: Sequence[str],
    values: dict[str, Sequence[str | None]],
    source: str | None,
) -> tuple[np.ndarray, int]:
    """What :func:`prefkit.storage._entities.upsert` does, for a few names."""
    from prefkit.storage._entities import _short

    cols = list(values)
    col_list = "".join(f", {c}" for c in cols)
    stored = {
        r[0]: r[1:]
        for r in _in_query(conn, f"SELECT {key}, pk{col_list} FROM {table} WHERE {key} IN ({{marks}})", names)
    }
    pks = np.zeros(len(names), dtype=np.int64)
    added = 0
    for pos, name in enumerate(names):
        new = [values[c][pos] for c in cols]
        row = stored.get(name)
        if row is None:
            marks = ", ".join("?" * (len(cols) + 1))
            cur = conn.execute(f"INSERT INTO {table}({key}{col_list}) VALUES ({marks})", (name, *new))
            pks[pos] = int(cur.lastrowid or 0)
            added += 1
            continue
        pks[pos] = row[0]
        for c, old, value in zip(cols, row[1:], new, strict=True):
            if value is None:
                continue
            if old is None:
                conn.execute(f"UPDATE {table} SET {c} = ? WHERE pk = ?", (value, row[0]))
            elif old != value:
                raise InputError(
                    f"{table[:-1] if table != 'criteria' else 'criterion'} {name!r} is already in the store "
                    f"with {c} {_short(old)}, this source says {_short(value)}; use a new id "
                    f"for the new one or make the two agree",
                    path=source,
                )
    return pks, added


def _upsert_all_small(conn: sqlite3.Connection, ds: Dataset, source: str | None) -> Any:
    from prefkit.data.model import ANNOTATOR_KINDS
    from prefkit.storage._entities import EntityMaps

    bad_kind = {a: k for a, k in ds.annotator_kind.items() if k not in ANNOTATOR_KINDS}
    if bad_kind:
        a, k = next(iter(bad_kind.items()))
        raise ValidationError(f"annotator {a!r} has kind {k!r}; use one of {', '.join(ANNOTATOR_KINDS)}")
    items, contexts, annotators = ds.items.names, ds.contexts.names, ds.annotators.names
    groups = [ds.annotator_groups.get(a) for a in annotators]
    item_pk, new_items = _upsert_small(
        conn, "items", "id", items, {"text": [ds.item_text.get(i) for i in items]}, source
    )
    ctx_pk, new_ctx = _upsert_small(
        conn, "contexts", "id", contexts, {"text": [ds.context_text.get(c) for c in contexts]}, source
    )
    ann_pk, new_ann = _upsert_small(
        conn,
        "annotators",
        "id",
        annotators,
        {
            "kind": [ds.annotator_kind.get(a) for a in annotators],
            "groups": [None if g is None else json.dumps(g, sort_keys=True) for g in groups],
        },
        source,
    )
    crit_pk, _ = _upsert_small(conn, "criteria", "name", ds.criteria.names, {}, source)
    attr_pk, _ = _upsert_small(conn, "attributes", "name", ds.attributes.names, {}, source)
    return EntityMaps(item_pk, ctx_pk, ann_pk, crit_pk, attr_pk, new_items, new_ctx, new_ann)


def _check_known_ids_small(
    conn: sqlite3.Connection, table: str, jk: K.JudgmentKeys, lines: np.ndarray, source: str | None
) -> None:
    """What :func:`prefkit.storage._insert.check_known_ids` does, for a few ids."""
    named = np.flatnonzero(jk.occurrence < 0)
    if not len(named):
        return
    ids = jk.ids.take(named).to_pylist()
    stored = {
        r[0]: r[1:]
        for r in _in_query(
            conn,
            f"SELECT t.id, t.d1, t.d2, t.line, i.source FROM {table} t LEFT JOIN imports i "
            "ON i.pk = t.import_id WHERE t.id IN ({marks})",
            ids,
        )
    }
    if not stored:
        return
    for j in sorted(range(len(named)), key=lambda j: int(lines[named[j]])):
        row = stored.get(ids[j])
        i = int(named[j])
        if row is not None and (row[0] != int(jk.d1[i]) or row[1] != int(jk.d2[i])):
            old_line, old_source = row[2], row[3]
            where = f" (from {old_source or 'an earlier import'}" + (
                f" line {old_line})" if old_line else ")"
            )
            raise InputError(
                f"judgment id {ids[j]!r} is already in the store with different content{where}; "
                f"give the new judgment its own id, or fix the row",
                path=source,
                line=int(lines[i]) or None,
            )


_EMPTY_COUNTS: dict[str, Any] = {
    "pairwise": {"added": 0, "duplicates": 0},
    "rankings": {"added": 0, "duplicates": 0},
    "ratings": {"added": 0, "duplicates": 0},
    "new_items": 0,
    "new_contexts": 0,
    "new_annotators": 0,
    "added": 0,
    "duplicates": 0,
}


def _scalar_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The format details worth keeping (``conversational`` ...): scalars only, not per-row arrays."""
    skip = {"format", "skipped", "tstamp"}
    return {k: v for k, v in meta.items() if k not in skip and isinstance(v, bool | int | float | str)}


def _with_seconds(r: ImportReport, seconds: float) -> ImportReport:
    return replace(r, seconds=seconds)


def _validate(ds: Dataset) -> None:
    """Codes within their indexes, outcomes known: checked before anything is written."""

    def codes(name: str, x: np.ndarray, n: int, *, optional: bool) -> None:
        x = np.asarray(x)
        lo = -1 if optional else 0
        if len(x) and (x.min() < lo or x.max() >= n):
            raise ValidationError(
                f"{name} has codes outside 0..{n - 1}; build it with the dataset's ItemIndex"
            )

    p, r, t = ds.pairwise, ds.rankings, ds.ratings
    n_items, n_ctx, n_ann = len(ds.items), len(ds.contexts), len(ds.annotators)
    n_crit, n_attr = len(ds.criteria), len(ds.attributes)
    for name, x, n, opt in (
        ("pairwise.a", p.a, n_items, False),
        ("pairwise.b", p.b, n_items, False),
        ("pairwise.context", p.context, n_ctx, True),
        ("pairwise.annotator", p.annotator, n_ann, True),
        ("pairwise.criterion", p.criterion, n_crit, False),
        ("rankings.members", r.members, n_items, False),
        ("rankings.context", r.context, n_ctx, True),
        ("rankings.annotator", r.annotator, n_ann, True),
        ("rankings.criterion", r.criterion, n_crit, False),
        ("ratings.item", t.item, n_items, False),
        ("ratings.attribute", t.attribute, n_attr, True),
        ("ratings.context", t.context, n_ctx, True),
        ("ratings.annotator", t.annotator, n_ann, True),
        ("ratings.criterion", t.criterion, n_crit, False),
    ):
        codes(name, x, n, optional=opt)
    if len(p) and (p.outcome.min() < 0 or p.outcome.max() > 3):
        raise ValidationError("pairwise.outcome must be 0 (a), 1 (b), 2 (tie) or 3 (both bad)")
    if len(t) and np.isnan(t.score).any():
        raise ValidationError("ratings.score has missing values (nan); drop those rows before importing")


__all__ = [
    "ImportRecord",
    "ImportReport",
    "ProjectStore",
    "ShapeCount",
    "StoreCounts",
    "append_dataset",
    "file_sha256",
    "new_import",
]
