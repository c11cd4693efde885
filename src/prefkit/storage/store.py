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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from prefkit._progress import ProgressFactory, no_progress
from prefkit.data.model import Dataset
from prefkit.errors import InputError, StoreError
from prefkit.storage.db import connect, migrate, schema_version
from prefkit.storage.schema import MIGRATIONS, NAMESPACE
from prefkit.storage.write import Progress, ShapeCount, append_dataset, new_import, prepare, write

CACHE_KIB = 256 * 1024  # page-cache ceiling: keeps the judgment indexes of big imports in memory


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
    skipped: list[tuple[int, str]] = field(default_factory=list)

    @property
    def added(self) -> int:
        return self.pairwise.added + self.rankings.added + self.ratings.added

    @property
    def duplicates(self) -> int:
        return self.pairwise.duplicates + self.rankings.duplicates + self.ratings.duplicates

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["added"], out["duplicates"] = self.added, self.duplicates
        out["skipped"] = [{"line": line, "reason": reason} for line, reason in self.skipped]
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
        empty_ok: bool = True,
    ) -> Dataset:
        """The stored judgments as a columnar Dataset, in the order of their sources, optionally filtered.

        ``criterion``: one name or several; ``annotator_kind``: "human" or "model"; ``source``: only the
        judgments first stored by imports of this source (as recorded in :meth:`imports`); ``shapes``: a
        subset of pairwise, rankings, ratings. With a filter, only the entities the judgments use are kept.
        ``empty_ok=False``: raise DataProblemError, listing what the store holds, when nothing matches.
        """
        from prefkit.storage.load import load_dataset

        return load_dataset(
            self,
            criterion=criterion,
            annotator_kind=annotator_kind,
            source=source,
            shapes=shapes,
            empty_ok=empty_ok,
        )

    # -- importing -------------------------------------------------------------------------------------

    def import_file(
        self,
        path: str | Path,
        format: str | None = None,
        *,
        strict: bool = True,
        progress: ProgressFactory | None = None,
    ) -> ImportReport:
        """Read ``path`` with :func:`prefkit.data.io.iter_chunks` and import it (nothing is stored if reading
        fails).

        ``strict=False`` skips bad rows (listed in the report's ``skipped``). ``progress(description, total)``
        is entered once for reading and once for storing and yields ``advance(n)``
        (:mod:`prefkit._progress`); an exception from it rolls the import back.
        """
        from prefkit.data import io

        p = Path(path)
        if p.is_dir():
            raise InputError("is a directory; give a data file", path=p)
        if not p.exists():
            raise InputError("no such file", path=p)
        stage = progress or no_progress
        chunks = []
        with stage(f"reading {p.name}", io.count_rows(p)) as advance:
            for chunk in io.iter_chunks(p, format, strict=strict):
                chunks.append(chunk)
                advance(chunk.n_judgments)
        ds = io.concat(chunks)
        fmt = io.normalize_format(format) or ds.meta.get("format")
        sha = file_sha256(p)
        with stage(f"storing into {self.path.name}", float(ds.n_judgments)) as advance:
            report = self.import_dataset(ds, source=str(p), format=fmt, sha256=sha, progress=advance)
        return replace(report, skipped=list(ds.meta.get("skipped") or []))

    def import_dataset(
        self,
        ds: Dataset,
        *,
        source: str | None = None,
        format: str | None = None,
        sha256: str | None = None,
        progress: Progress | None = None,
        lookup: str = "auto",
    ) -> ImportReport:
        """Store ``ds`` in one transaction; judgments already present are skipped and counted.

        ``progress(n)`` is called after each chunk of ``n`` judgments; if it (or anything else) raises, the
        transaction is rolled back and the store is left as it was. ``lookup`` (auto, small, bulk) picks how
        stored names and ids are looked up (:mod:`prefkit.storage.lookup`); the result is the same.
        """
        t0 = time.perf_counter()
        source = source if source is not None else ds.source
        keyed = prepare(ds, source=source)
        conn = self.conn
        # every reference written below is a pk read back in the same transaction, so per-row foreign-key
        # checks are skipped (25% of the insert time); tests run PRAGMA foreign_key_check on the result
        conn.execute("PRAGMA foreign_keys=OFF")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                imp = new_import(conn, source=source, format=format, sha256=sha256, meta=ds.meta)
                w = write(conn, keyed, import_id=imp, source=source, lookup=lookup, progress=progress)
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"{self.path}: import failed, nothing was stored ({exc})") from exc
                raise
        finally:
            conn.execute("PRAGMA foreign_keys=ON")
        return ImportReport(
            source=source,
            format=format,
            sha256=sha256,
            pairwise=w.shapes["pairwise"],
            rankings=w.shapes["rankings"],
            ratings=w.shapes["ratings"],
            new_items=w.new_items,
            new_contexts=w.new_contexts,
            new_annotators=w.new_annotators,
            seconds=time.perf_counter() - t0,
        )


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
