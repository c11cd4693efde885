"""The DuckDB fast path of the arena reader (:mod:`prefkit.data.formats.arena`): same rules, same errors.

One streaming ``GROUP BY`` reduces a battle log of any size (Parquet, CSV, JSON lines, optionally gzipped) to
its distinct ``(model_a, model_b, winner)`` cells; the per-row rules that do not survive the grouping (weight,
tstamp, and the parts of CSV / JSON syntax where DuckDB is more lenient than the row reader) are counted in the
same pass, in SQL, so the scan stays streaming (unique ids, when a file has ids, take a second pass). The
distinct names and labels are then checked in Python with the reader's own rules
(:func:`~prefkit.data.formats.arena.name_ok`, :func:`~prefkit.data.formats.arena.winner_ok`). When anything
is (or may be) wrong the fast path does not guess: it hands the file to the row reader, which reports the exact
``FILE:LINE`` problem (the same message and line as ``prefkit validate``) or returns the data.

What the fast path leaves to the row reader: CSV files with quote characters in the data (parsed here without
quoting, so only files without them are vouched for) or a header DuckDB could read differently; JSON lines with
``Infinity``, trailing commas, a repeated arena key, numbers written as text, or a line that is not an object;
anything DuckDB itself refuses. The fast path never accepts a file that the row reader refuses, and both return
the same names (sorted) and counts. Without DuckDB, :func:`scan_counts` and
:func:`prefkit.storage.arena_battles.read_battles` raise MissingDependencyError (callers such as
:mod:`prefkit.storage.rank_input` then use the row reader).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from prefkit._optional import require
from prefkit.data import _source, io
from prefkit.data.formats import arena
from prefkit.data.index import ItemIndex
from prefkit.errors import MissingDependencyError
from prefkit.ranking.counts import CountTable, count_table_from_cells
from prefkit.ranking.leaderboard_data import Battles, sorted_battles

_INTS = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
)
_FLOATS = ("FLOAT", "DOUBLE")
_JSON_NUMBERS = "('BIGINT', 'UBIGINT', 'DOUBLE')"
_TYPE = "$type"  # suffix of the JSON type columns
_TYPED = ("id", "battle_id", "tstamp", "weight")


class Unvouched(Exception):  # noqa: N818 - a signal between the fast path and its caller, not an error
    """The fast path cannot vouch for this file (a bad row, or syntax it reads differently): use the row reader."""


def available() -> bool:
    """True when DuckDB is installed (``sys.modules['duckdb'] = None`` makes it unavailable, as in the tests)."""
    try:
        require("duckdb")
    except MissingDependencyError:
        return False
    return True


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Source:
    """A battle log opened for DuckDB: the FROM expression and one SQL expression (and kind) per arena column.

    ``kind`` is the DuckDB type of a Parquet / CSV column, or ``JSON`` (a JSON value, typed row by row).
    ``guard`` is a SQL condition true on rows whose syntax only the row reader can judge; ``raw_guard`` a query
    counting raw lines of that kind (JSON lines).
    """

    path: Path
    container: str
    sql: str
    cells: dict[str, tuple[str, str]]
    guard: str | None
    columns: tuple[str, ...]
    raw_guard: str | None


def connect() -> Any:
    duckdb = require("duckdb")
    con = duckdb.connect(config={"preserve_insertion_order": True})
    con.execute("SET enable_progress_bar = false").fetchall()  # stdout carries JSON / CSV output
    return con


def open_source(con: Any, path: str | Path) -> Source:
    """Describe ``path`` (an arena log, as recognised by :func:`prefkit.data.io.detect_format`) for DuckDB."""
    p = Path(path)
    container = io.check_file(p, "arena")
    gz = "gzip" if not _source.is_parquet(p) and _gzipped(p) else "none"
    if container == "parquet":
        sql = f"read_parquet({sql_literal(str(p))})"
        types = describe(con, sql)
        cells = {c: (sql_ident(c), types[c]) for c in arena.COLUMNS if c in types}
        return Source(p, container, sql, cells, None, tuple(types), None)
    if container == "csv":
        header = _csv_header(p)
        cols = "{" + ", ".join(f"{sql_literal(h)}: 'VARCHAR'" for h in header) + "}"
        sql = (
            f"read_csv({sql_literal(str(p))}, header=true, auto_detect=false, delim=',', quote='', escape='', "
            f"strict_mode=true, null_padding=false, columns={cols}, compression='{gz}')"
        )
        cells = {c: (sql_ident(c), "VARCHAR") for c in arena.COLUMNS if c in header}
        quotes = " OR ".join(
            f"contains({sql_ident(h)}, '\"') OR contains({sql_ident(h)}, chr(0))" for h in header
        )
        guard = f"coalesce({quotes}, false)"
        return Source(p, container, sql, cells, guard, tuple(header), None)
    # typed JSON cells: DuckDB refuses a line that is not an object or repeats one of these keys; the raw
    # lines are searched for the two things its JSON parser accepts and Python's does not
    cols = "{" + ", ".join(f"{sql_literal(c)}: 'JSON'" for c in arena.COLUMNS) + "}"
    typed = ", ".join(f"json_type({sql_ident(c)}) AS {sql_ident(c + _TYPE)}" for c in _TYPED)
    sql = (
        f"(SELECT *, {typed} FROM read_json({sql_literal(str(p))}, format='newline_delimited', columns={cols}, "
        f"compression='{gz}'))"
    )
    lines = (
        f"read_csv({sql_literal(str(p))}, columns={{'line': 'VARCHAR'}}, header=false, delim='{chr(31)}', quote='', "
        f"escape='', auto_detect=false, strict_mode=true, compression='{gz}')"
    )
    raw = f"SELECT count_if(contains(line, 'Infinity') OR regexp_matches(line, ',\\s*[}}\\]]')) FROM {lines}"
    cells = {c: (sql_ident(c), "JSON") for c in arena.COLUMNS}
    return Source(p, container, sql, cells, None, tuple(arena.COLUMNS), raw)


def _gzipped(p: Path) -> bool:
    with p.open("rb") as fh:
        return fh.read(2) == _source.GZIP_MAGIC


def describe(con: Any, sql: str) -> dict[str, str]:
    return {r[0]: str(r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()}


def _csv_header(p: Path) -> list[str]:
    """The header, when DuckDB's quote-free parse skips it as the row reader reads it (quoted names are fine
    while no name holds a comma or a line break)."""
    head = _source.head_bytes(p, 1 << 16).removeprefix(b"\xef\xbb\xbf")
    first, newline, _ = head.partition(b"\n")
    first = first.removesuffix(b"\r")
    if not newline or b"\r" in first or not first.strip() or first.count(b'"') % 2:
        raise Unvouched("the CSV header needs the row reader (a blank first line, odd line ends or quotes)")
    text = first.decode("utf-8", errors="replace")
    header = [h.strip() for h in next(csv.reader([text]))]
    if len(text.split(",")) != len(header) or len(set(header)) != len(header) or not all(header):
        raise Unvouched("the CSV header has commas in names, or empty or repeated names")
    if header != _source.csv_header(p):
        raise Unvouched("the CSV header reads differently line by line")
    return header


# -- the rules in SQL ------------------------------------------------------------------------------------


def _number(cell: str, kind: str) -> tuple[str, str, str]:
    """SQL (missing, is_number, value) for a cell by the rule of :func:`prefkit.data.formats.arena._number`."""
    if kind in _INTS or kind in _FLOATS:
        return f"({cell} IS NULL)", "true", f"CAST({cell} AS DOUBLE)"
    if kind == "VARCHAR":
        return _text_number(cell)
    if kind == "JSON":  # numbers written as JSON text are left to the row reader
        t = _jtype(cell)
        return f"({t} IS NULL OR {t} = 'NULL')", f"({t} IN {_JSON_NUMBERS})", f"TRY_CAST({cell} AS DOUBLE)"
    return "false", "false", "NULL"


def _jtype(cell: str) -> str:
    """The column holding ``json_type`` of a JSON cell (computed once per row in the source)."""
    return cell[:-1] + _TYPE + '"'


def _text_number(s: str) -> tuple[str, str, str]:
    return (
        f"({s} IS NULL OR trim({s}) = '')",
        f"coalesce(regexp_full_match({s}, {sql_literal(arena.NUMBER_RE)}), false)",
        f"TRY_CAST({s} AS DOUBLE)",
    )


def weight_sql(src: Source) -> tuple[str, str | None]:
    """SQL (value, bad) of the weight column (value 1 when missing; no column: ``1.0`` and None)."""
    if "weight" not in src.cells:
        return "1.0", None
    missing, is_num, value = _number(*src.cells["weight"])
    bad = f"NOT coalesce({missing} OR ({is_num} AND isfinite({value}) AND {value} >= 0), false)"
    return f"(CASE WHEN {missing} THEN 1.0 ELSE {value} END)", bad


def _tstamp_bad(src: Source) -> str | None:
    if "tstamp" not in src.cells:
        return None
    cell, kind = src.cells["tstamp"]
    if kind.startswith(("TIMESTAMP", "DATE")):
        return None
    missing, is_num, value = _number(cell, kind)
    return f"NOT coalesce({missing} OR ({is_num} AND NOT isinf({value})), false)"


def _id_key(cell: str, kind: str) -> tuple[str, str]:
    """SQL (key, unsure): the id as :func:`prefkit.data.formats._common.name` spells it, or unsure."""
    if kind == "VARCHAR":
        return f"(CASE WHEN trim({cell}) = '' THEN NULL ELSE {cell} END)", "false"
    if kind in _INTS:
        return f"CAST({cell} AS VARCHAR)", "false"
    if kind in _FLOATS or kind == "JSON":
        v = f"TRY_CAST({cell} AS DOUBLE)"
        integral = f"(NOT isnan({v}) AND {v} = trunc({v}) AND abs({v}) < 1e18)"
        as_int = f"CAST(CAST({v} AS BIGINT) AS VARCHAR)"
        if kind != "JSON":
            return (
                f"(CASE WHEN {integral} THEN {as_int} END)",
                f"coalesce(NOT isnan({v}) AND NOT {integral}, false)",
            )
        t = _jtype(cell)
        s = f"({cell} ->> '$')"
        key = (
            f"(CASE WHEN {t} = 'VARCHAR' THEN (CASE WHEN trim({s}) = '' THEN NULL ELSE {s} END) "
            f"WHEN {t} IN {_JSON_NUMBERS} AND {integral} THEN {as_int} END)"
        )
        unsure = (
            f"coalesce(NOT ({t} IN ('NULL', 'VARCHAR') OR ({t} IN {_JSON_NUMBERS} AND "
            f"(isnan({v}) OR {integral}))), false)"
        )
        return key, f"({cell} IS NOT NULL AND {unsure})"
    return "NULL", f"({cell} IS NOT NULL)"


def id_sql(src: Source) -> tuple[str, str] | None:
    """SQL (key, unsure) of a battle's id (``id``, else ``battle_id``); None without id columns."""
    parts = [_id_key(*src.cells[c]) for c in arena.ID_COLUMNS if c in src.cells]
    if not parts:
        return None
    key = parts[0][0] if len(parts) == 1 else f"coalesce({parts[0][0]}, {parts[1][0]})"
    return key, " OR ".join(p[1] for p in parts)


# -- the scan ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cells:
    """The distinct checked ``(model_a, model_b, outcome)`` cells of a log and their (weighted) counts."""

    a: list[str]
    b: list[str]
    outcome: np.ndarray
    weight: np.ndarray


def _decoded(container: str, raw: list[Any], ok: Any) -> list[Any]:
    """The cells as the row reader sees them (JSON values decoded), each distinct one checked once by ``ok``."""
    seen: dict[Any, Any] = {}
    try:
        distinct = set(raw)
    except TypeError:  # lists or structs (Parquet): not names, not labels
        raise Unvouched("a cell is not a scalar") from None
    for v in distinct:
        x = v if container != "jsonl" or v is None else json.loads(v)
        if not ok(x):
            raise Unvouched("a battle breaks the arena rules")
        seen[v] = x
    return [seen[v] for v in raw]


def scan_cells(con: Any, src: Source) -> Cells:
    """One streaming pass: the distinct cells, checked by the reader's rules (ids, when any, in a second)."""
    a, b, w = (src.cells[c][0] for c in arena.REQUIRED)
    if src.raw_guard is not None and con.execute(src.raw_guard).fetchall()[0][0]:
        raise Unvouched("a line holds Infinity or a trailing comma, which only the row reader judges")
    wvalue, wbad = weight_sql(src)
    bad = [x for x in (wbad, _tstamp_bad(src), src.guard) if x]
    bad_sql = f"count_if({' OR '.join(f'({x})' for x in bad)})" if bad else "0"
    total = f"sum({wvalue})" if wvalue != "1.0" else "count(*)"
    id_cells = [src.cells[c][0] for c in arena.ID_COLUMNS if c in src.cells]
    has_id = f"count_if({' OR '.join(f'{c} IS NOT NULL' for c in id_cells)})" if id_cells else "0"
    rows = con.execute(
        f"SELECT {a}, {b}, {w}, {total}, {bad_sql}, {has_id} FROM {src.sql} GROUP BY ALL"
    ).fetchall()
    if not rows:
        raise Unvouched("no battles: the row reader says why")
    if any(r[4] for r in rows):
        raise Unvouched("a row may break the weight or tstamp rules, or needs the row reader's syntax")
    ma = _decoded(src.container, [r[0] for r in rows], arena.name_ok)
    mb = _decoded(src.container, [r[1] for r in rows], arena.name_ok)
    win = _decoded(src.container, [r[2] for r in rows], arena.winner_ok)
    if any(x == y for x, y in zip(ma, mb, strict=True)):
        raise Unvouched("an item is compared with itself")
    ids = id_sql(src)
    if ids is not None and any(r[5] for r in rows):
        unsure, dup = con.execute(
            f"SELECT count_if({ids[1]}), count({ids[0]}) - count(DISTINCT {ids[0]}) FROM {src.sql}"
        ).fetchall()[0]
        if unsure or dup:
            raise Unvouched("an id appears twice, or is spelled in a way only the row reader judges")
    return Cells(
        ma,
        mb,
        np.asarray([arena.WINNERS[z] for z in win], dtype=np.int64),
        np.asarray([r[3] for r in rows], dtype=np.float64),
    )


def scan_counts(path: str | Path) -> CountTable:
    """The count table of an arena log, in one streaming DuckDB aggregation (names sorted).

    InputError ``FILE:LINE`` on a bad row (from the row reader); MissingDependencyError without DuckDB.
    """
    duckdb = require("duckdb")
    con = connect()
    try:
        src = open_source(con, path)
        cells = scan_cells(con, src)
    except (Unvouched, duckdb.Error):
        return row_reader(path).counts()
    finally:
        con.close()
    names = ItemIndex(sorted(set(cells.a) | set(cells.b)))
    i, j = names.encode(cells.a), names.encode(cells.b)
    cell = np.minimum(cells.outcome, 2)
    return count_table_from_cells(i, j, cell, cells.weight, len(names), names.names)


def row_reader(path: str | Path) -> Battles:
    """The row reader's verdict: the exact ``FILE:LINE`` problem, or the battles (names sorted)."""
    pw_ds = io.read(path, "arena")
    pw = pw_ds.pairwise
    return sorted_battles(pw.a, pw.b, pw.outcome, pw_ds.items.names, pw.weight)
