"""Per-battle arrays of an arena log through the DuckDB fast path (online Elo, Plackett-Luce, style control).

The log is first checked by :func:`prefkit.storage.arena_scan.scan_cells` (the arena reader's rules, streaming);
then the battles are read in file order. A file the fast path cannot vouch for goes to the row reader, which
reports the exact ``FILE:LINE`` problem or returns the battles; style features need the fast path.

Style control reads per-battle features from, in order of preference: numeric ``style_*`` columns (already
per-battle features, e.g. ``style_length`` = a - b); Chatbot Arena's ``conv_metadata`` struct, or the same fields
as flat columns (``sum_assistant_a_tokens`` / ``_b``, ``header_count_a`` / ``_b``, ``list_count_a`` / ``_b``,
``bold_count_a`` / ``_b``; numbers, or structs of numbers that are summed), turned into LMArena's four features
``(a - b) / (a + b)``: length, headers, lists, bold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from prefkit._optional import require
from prefkit.data.formats import arena
from prefkit.data.index import ItemIndex
from prefkit.errors import FormatError, InputError, ValidationError
from prefkit.ranking.leaderboard_data import Battles
from prefkit.ranking.style import STYLE_FEATURES, arena_style_features
from prefkit.storage import arena_scan
from prefkit.storage.arena_scan import (
    Source,
    Unvouched,
    connect,
    describe,
    open_source,
    scan_cells,
    sql_ident,
    sql_literal,
    weight_sql,
)

_STYLE_PAIRS = ("header_count", "list_count", "bold_count")


def read_battles(path: str | Path, *, style: bool = False) -> Battles:
    """Per-battle arrays in file order (online Elo, Plackett-Luce, style control), checked as by scan_counts.

    With ``style``, per-battle features come from numeric ``style_*`` columns, or from Chatbot Arena's
    ``conv_metadata`` (or the same fields as flat columns), turned into LMArena's four features.
    """
    duckdb = require("duckdb")
    pa = require("pyarrow")
    con = connect()
    try:
        src = open_source(con, path)
        scan_cells(con, src)
        extra, from_sql = _style_source(con, src) if style else ([], src.sql)
        wvalue, _ = weight_sql(src)
        sel = [f"{_text(src, c)} AS {c}" for c in arena.REQUIRED] + [f"{wvalue} AS weight"]
        rel = con.sql(f"SELECT {', '.join(sel + [sql_ident(c) for c in extra])} FROM {from_sql}")
        tbl = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
    except (Unvouched, duckdb.Error) as exc:
        battles = arena_scan.row_reader(path)
        if style:
            raise ValidationError(
                f"{path}: style control reads per-battle features with DuckDB, which cannot read this file "
                f"as prefkit's reader does ({exc}); convert it first (prefkit convert FILE battles.parquet)"
            ) from None
        return battles
    finally:
        con.close()
    if hasattr(tbl, "read_all"):  # some DuckDB versions hand back a record batch reader
        tbl = tbl.read_all()
    idx = ItemIndex()
    a = idx.encode(tbl.column("model_a").cast(pa.string())).astype(np.int64)
    b = idx.encode(tbl.column("model_b").cast(pa.string())).astype(np.int64)
    order = np.argsort(np.array(idx.names, dtype=object))
    remap = np.empty(len(order), dtype=np.int64)
    remap[order] = np.arange(len(order))
    names = tuple(np.array(idx.names, dtype=object)[order].tolist())
    labels = tbl.column("winner").to_pylist()
    outcome = np.fromiter((arena.WINNERS[w] for w in labels), dtype=np.int64, count=len(labels))
    weight = tbl.column("weight").to_numpy().astype(np.float64)
    feats: np.ndarray | None = None
    fnames: tuple[str, ...] = ()
    if style:
        feats, fnames = _style_features(src.path, tbl, extra)
    return Battles(remap[a], remap[b], outcome, names, weight=weight, features=feats, feature_names=fnames)


def _text(src: Source, column: str) -> str:
    cell, kind = src.cells[column]
    return f"({cell} ->> '$')" if kind == "JSON" else f"CAST({cell} AS VARCHAR)"


def _style_source(con: Any, src: Source) -> tuple[list[str], str]:
    """The style columns to read and the FROM clause that has them (JSON lines: joined by position)."""
    if src.container != "jsonl":
        return _style_columns(src.path, list(src.columns)), src.sql
    typed = f"read_json({sql_literal(str(src.path))}, format='newline_delimited')"
    extra = _style_columns(src.path, list(describe(con, typed)))
    cols = ", ".join(sql_ident(c) for c in extra)
    return extra, f"(SELECT * FROM {src.sql} POSITIONAL JOIN (SELECT {cols} FROM {typed}))"


def _style_columns(path: Path, cols: list[str]) -> list[str]:
    style_cols = [c for c in cols if c.startswith("style_")]
    if style_cols:
        return style_cols
    if "conv_metadata" in cols:
        return ["conv_metadata"]
    flat = ["sum_assistant_a_tokens", "sum_assistant_b_tokens"] + [
        f"{k}_{s}" for k in _STYLE_PAIRS for s in "ab"
    ]
    if all(c in cols for c in flat):
        return flat
    raise FormatError(
        "style control needs per-battle features: numeric style_* columns, or Chatbot Arena's "
        "conv_metadata (sum_assistant_a_tokens, header_count_a, ...); none found",
        path=path,
    )


def _num(col: Any, name: str, path: Path) -> np.ndarray:
    """A numeric column, or a struct of numbers summed over its fields; nulls become 0."""
    pa = require("pyarrow")
    pc = require("pyarrow.compute")
    col = col.combine_chunks() if hasattr(col, "combine_chunks") else col
    if pa.types.is_struct(col.type):
        total = np.zeros(len(col))
        for k in range(col.type.num_fields):
            total += _num(col.field(k), name, path)
        return total
    try:
        return pc.fill_null(col.cast(pa.float64()), 0.0).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise InputError(f"style column {name} holds values that are not numbers", path=path) from None


def _style_features(path: Path, tbl: Any, extra: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    if extra[0].startswith("style_"):
        X = np.stack([_num(tbl.column(c), c, path) for c in extra], axis=1)
        return X, tuple(c.removeprefix("style_") for c in extra)
    if extra == ["conv_metadata"]:
        meta = tbl.column("conv_metadata").combine_chunks()

        def get(name: str) -> np.ndarray:
            return _num(meta.field(name), f"conv_metadata.{name}", path)
    else:

        def get(name: str) -> np.ndarray:
            return _num(tbl.column(name), name, path)

    X = arena_style_features(
        get("sum_assistant_a_tokens"),
        get("sum_assistant_b_tokens"),
        [get(f"{k}_a") for k in _STYLE_PAIRS],
        [get(f"{k}_b") for k in _STYLE_PAIRS],
    )
    return X, STYLE_FEATURES
