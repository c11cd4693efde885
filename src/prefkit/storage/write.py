"""The one write path of the project store: validate, key, upsert entities, check ids, insert, count.

Every writer goes through :func:`prepare` (checks and judgment keys, computed once, before anything is
written) and :func:`write` (inside the caller's transaction): :meth:`ProjectStore.import_dataset
<prefkit.storage.store.ProjectStore.import_dataset>` for files (its own ``BEGIN IMMEDIATE`` and import record)
and :func:`append_dataset` for producers that add judgments over time (the web service). Only how stored
names and ids are looked up depends on the batch size (:mod:`prefkit.storage.lookup`).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from prefkit.data.model import Dataset
from prefkit.errors import StoreError, ValidationError
from prefkit.storage import _insert as W
from prefkit.storage import keys as K
from prefkit.storage import responses
from prefkit.storage._entities import upsert_all
from prefkit.storage.lookup import choose

Progress = W.Progress
SHAPES = ("pairwise", "rankings", "ratings")


@dataclass(frozen=True)
class ShapeCount:
    """Judgments of one shape (or of all) in a write: newly stored, and already present (skipped)."""

    added: int = 0
    duplicates: int = 0


@dataclass(frozen=True)
class Keyed:
    """A validated dataset with the identities of its judgments, one :class:`~prefkit.storage.keys.JudgmentKeys`
    per table."""

    ds: Dataset
    pairwise: K.JudgmentKeys
    rankings: K.JudgmentKeys
    ratings: K.JudgmentKeys


@dataclass(frozen=True)
class Written:
    """What one :func:`write` stored: per shape (added, already present), and the new entities."""

    shapes: dict[str, ShapeCount]
    new_items: int
    new_contexts: int
    new_annotators: int

    @property
    def added(self) -> int:
        return sum(c.added for c in self.shapes.values())

    @property
    def duplicates(self) -> int:
        return sum(c.duplicates for c in self.shapes.values())


EMPTY_COUNTS: dict[str, Any] = {
    "pairwise": {"added": 0, "duplicates": 0},
    "rankings": {"added": 0, "duplicates": 0},
    "ratings": {"added": 0, "duplicates": 0},
    "new_items": 0,
    "new_contexts": 0,
    "new_annotators": 0,
    "added": 0,
    "duplicates": 0,
}


def prepare(ds: Dataset, *, source: str | None) -> Keyed:
    """Check ``ds`` (codes, outcomes, scores, ids used twice with other content) and key its judgments."""
    validate(ds)
    lanes: K.Lanes = {}
    keyed = Keyed(
        ds,
        K.pairwise_keys(ds, ds.pairwise, lanes),
        K.ranking_keys(ds, ds.rankings, lanes),
        K.rating_keys(ds, ds.ratings, lanes),
    )
    K.check_unique_ids(keyed.pairwise, ds.pairwise.line, source=source, shape="pairwise")
    K.check_unique_ids(keyed.rankings, ds.rankings.line, source=source, shape="ranking")
    K.check_unique_ids(keyed.ratings, ds.ratings.line, source=source, shape="rating")
    return keyed


def write(
    conn: sqlite3.Connection,
    keyed: Keyed,
    *,
    import_id: int,
    seq0: int = 0,
    source: str | None,
    lookup: str = "auto",
    progress: Progress | None = None,
) -> Written:
    """Store ``keyed`` under import record ``import_id`` at positions ``seq0, seq0 + 1, ...`` of each table,
    inside the caller's transaction, and add the counts to the record. ``lookup``: auto, small or bulk."""
    ds = keyed.ds
    advance: Progress = progress or (lambda n: None)
    n_names = max(len(ds.items), len(ds.contexts), len(ds.annotators))
    how = choose(ds.n_judgments, n_names, lookup)
    maps = upsert_all(conn, ds, how, source=source)
    responses.save(conn, ds, maps.items, maps.contexts)
    tables = (
        ("pairwise", keyed.pairwise, ds.pairwise, W.insert_pairwise),
        ("rankings", keyed.rankings, ds.rankings, W.insert_rankings),
        ("ratings", keyed.ratings, ds.ratings, W.insert_ratings),
    )
    for name, jk, table, _ in tables:
        W.check_known_ids(conn, how, name, jk, table.line, source=source)
    shapes: dict[str, ShapeCount] = {}
    for name, jk, table, insert in tables:
        n = insert(conn, ds, jk, maps, import_id, seq0, advance)
        shapes[name] = ShapeCount(n, len(table) - n)
    written = Written(shapes, maps.new_items, maps.new_contexts, maps.new_annotators)
    _add_counts(conn, import_id, written)
    return written


def _add_counts(conn: sqlite3.Connection, import_id: int, w: Written) -> None:
    row = conn.execute("SELECT counts FROM imports WHERE pk = ?", (import_id,)).fetchone()
    counts = {**EMPTY_COUNTS, **json.loads(row[0] or "{}")}
    for name, c in w.shapes.items():
        shape = dict(counts.get(name) or {"added": 0, "duplicates": 0})
        shape["added"] = int(shape.get("added", 0)) + c.added
        shape["duplicates"] = int(shape.get("duplicates", 0)) + c.duplicates
        counts[name] = shape
    counts["new_items"] = int(counts.get("new_items", 0)) + w.new_items
    counts["new_contexts"] = int(counts.get("new_contexts", 0)) + w.new_contexts
    counts["new_annotators"] = int(counts.get("new_annotators", 0)) + w.new_annotators
    counts["added"] = int(counts.get("added", 0)) + w.added
    counts["duplicates"] = int(counts.get("duplicates", 0)) + w.duplicates
    conn.execute("UPDATE imports SET counts = ? WHERE pk = ?", (json.dumps(counts), import_id))


def new_import(
    conn: sqlite3.Connection,
    *,
    source: str | None,
    format: str | None = None,
    sha256: str | None = None,
    meta: dict[str, Any] | None = None,
) -> int:
    """Create an (empty) import record on ``conn`` inside the caller's transaction; return its pk.

    For producers that add judgments over time (the web service appends each committed batch of votes
    with :func:`append_dataset`); the caller commits or rolls back.
    """
    cur = conn.execute(
        "INSERT INTO imports(source, sha256, format, time, counts, meta) VALUES (?, ?, ?, ?, ?, ?)",
        (
            source,
            sha256,
            format,
            datetime.now(UTC).isoformat(timespec="seconds"),
            json.dumps(EMPTY_COUNTS),
            None if meta is None else json.dumps(scalar_meta(meta), sort_keys=True),
        ),
    )
    return int(cur.lastrowid or 0)


def append_dataset(
    conn: sqlite3.Connection, ds: Dataset, *, import_id: int, seq0: int = 0, lookup: str = "auto"
) -> ShapeCount:
    """Add ``ds`` to the store on ``conn`` inside the caller's transaction (no BEGIN / COMMIT here).

    The judgments are attached to the existing import record ``import_id`` (see :func:`new_import`) at
    positions ``seq0, seq0 + 1, ...``; the same checks and inserts as a file import. Returns (added, already
    present). On an exception the caller must roll back (to a savepoint) what this call wrote.
    """
    row = conn.execute("SELECT source FROM imports WHERE pk = ?", (import_id,)).fetchone()
    if row is None:
        raise StoreError(f"no import record {import_id}; create one with new_import first")
    keyed = prepare(ds, source=row[0])
    w = write(conn, keyed, import_id=import_id, seq0=seq0, source=row[0], lookup=lookup)
    return ShapeCount(w.added, w.duplicates)


def scalar_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The format details worth keeping (``conversational`` ...): scalars only."""
    skip = {"format", "skipped"}
    return {k: v for k, v in meta.items() if k not in skip and isinstance(v, bool | int | float | str)}


def validate(ds: Dataset) -> None:
    """Codes within their indexes, outcomes known, scores present: checked before anything is written."""

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
    for name, ts, n in (
        ("pairwise", p.tstamp, len(p)),
        ("rankings", r.tstamp, len(r)),
        ("ratings", t.tstamp, len(t)),
    ):
        if len(ts) != n:
            raise ValidationError(f"{name}.tstamp has {len(ts)} entries for {n} rows; give one per row")
        if np.isinf(ts).any():
            raise ValidationError(f"{name}.tstamp has infinite values; use Unix seconds, or nan when unknown")
