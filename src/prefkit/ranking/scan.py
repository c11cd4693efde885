"""Arena battle logs read with DuckDB: a streaming reduction to the count table, or per-battle arrays.

Accepted files: Parquet, CSV and JSON lines (optionally gzipped) with columns ``model_a``, ``model_b``,
``winner`` where winner is ``model_a`` | ``model_b`` | ``tie`` | ``tie (bothbad)`` (also ``a``, ``b``,
``both_bad``). An optional numeric ``weight`` column weights battles.

Style control reads per-battle features from, in order of preference:

* explicit numeric ``style_*`` columns (already per-battle features, e.g. ``style_length`` = a - b);
* Chatbot Arena's ``conv_metadata`` struct, or the same fields as flat columns: ``sum_assistant_a_tokens``,
  ``sum_assistant_b_tokens``, ``header_count_a`` / ``_b``, ``list_count_a`` / ``_b``, ``bold_count_a`` /
  ``_b`` (numbers, or structs of numbers that are summed), turned into LMArena's four features
  ``(a - b) / (a + b)``: length, headers, lists, bold.

The count-table scan is a single ``GROUP BY`` over the file: memory is bounded by the number of distinct
(model_a, model_b, winner) triples, whatever the number of battles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prefkit._optional import require
from prefkit.data.index import ItemIndex
from prefkit.errors import FormatError, InputError
from prefkit.ranking.counts import CountTable, count_table_from_cells
from prefkit.ranking.leaderboard import Battles
from prefkit.ranking.style import STYLE_FEATURES, arena_style_features

WINNER_CODES = {
    "model_a": 0,
    "a": 0,
    "model_b": 1,
    "b": 1,
    "tie": 2,
    "tie (bothbad)": 3,
    "both_bad": 3,
    "bothbad": 3,
}
_STYLE_PAIRS = ("header_count", "list_count", "bold_count")


def _source(path: str | Path) -> str:
    p = Path(path)
    if not p.exists():
        raise InputError("no such file; check the path", path=p)
    name = p.name.lower().removesuffix(".gz")
    quoted = "'" + str(p).replace("'", "''") + "'"
    with p.open("rb") as fh:
        magic = fh.read(4)
    if magic == b"PAR1" or name.endswith(".parquet"):
        return f"read_parquet({quoted})"
    if name.endswith((".csv", ".tsv")):
        return f"read_csv_auto({quoted}, header=true)"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return f"read_json_auto({quoted}, format='newline_delimited')"
    raise FormatError("not an arena log DuckDB can scan (expected .parquet, .csv or .jsonl)", path=p)


def is_arena_log(path: str | Path) -> bool:
    """True when DuckDB can read ``path`` and it has the arena columns."""
    try:
        return {"model_a", "model_b", "winner"} <= set(_columns(path))
    except (InputError, ImportError):
        return False
    except Exception:  # noqa: BLE001 - any DuckDB parse error means "not an arena log"
        return False


def _connect():
    duckdb = require("duckdb")
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    return con


def _columns(path: str | Path) -> dict[str, str]:
    con = _connect()
    rows = con.execute(f"DESCRIBE SELECT * FROM {_source(path)}").fetchall()
    return {r[0]: r[1] for r in rows}


def _require_columns(path: str | Path, cols: dict[str, str]) -> None:
    missing = [c for c in ("model_a", "model_b", "winner") if c not in cols]
    if missing:
        raise FormatError(
            f"missing column(s) {missing}: an arena log needs model_a, model_b and winner", path=path
        )


def _first_line(con, src: str, where: str, header: int) -> int | None:
    row = con.execute(
        f"SELECT min(rn) FROM (SELECT row_number() OVER () AS rn, * FROM {src}) WHERE {where}"
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0]) + header


def _check_values(con, path: str | Path, src: str, winners: list[str | None], header: int) -> None:
    bad = [w for w in winners if w not in WINNER_CODES]
    if bad:
        shown = bad[0] if bad[0] is None else repr(bad[0])
        cond = (
            "winner IS NULL" if bad[0] is None else "winner = " + "'" + str(bad[0]).replace("'", "''") + "'"
        )
        line = _first_line(con, src, cond, header)
        raise InputError(
            f"winner is {shown}; expected one of model_a, model_b, tie, tie (bothbad)", path=path, line=line
        )


def scan_counts(path: str | Path) -> CountTable:
    """Reduce an arena log of any size to the count table with one streaming DuckDB aggregation."""
    cols = _columns(path)
    _require_columns(path, cols)
    src = _source(path)
    header = 1 if "read_csv" in src else 0
    con = _connect()
    wexpr = "sum(CAST(weight AS DOUBLE))" if "weight" in cols else "count(*)"
    rows = con.execute(
        f"SELECT CAST(model_a AS VARCHAR), CAST(model_b AS VARCHAR), lower(CAST(winner AS VARCHAR)), {wexpr} "
        f"FROM {src} GROUP BY ALL"
    ).fetchnumpy()
    keys = list(rows.keys())
    ma, mb, win, cnt = (rows[k] for k in keys)
    _check_nulls(con, path, src, ma, mb, header)
    seen: set[str | None] = {str(w) if w is not None else None for w in win}
    _check_values(con, path, src, sorted(seen, key=str), header)
    names = ItemIndex(sorted(set(ma.tolist()) | set(mb.tolist())))
    i = names.encode(np.asarray(ma, dtype=object).astype(str))
    j = names.encode(np.asarray(mb, dtype=object).astype(str))
    cell = np.array([min(WINNER_CODES[str(w)], 2) for w in win], dtype=np.int64)
    if np.any(i == j):
        line = _first_line(con, src, "model_a = model_b", header)
        raise InputError("model_a equals model_b; remove self-battles", path=path, line=line)
    return count_table_from_cells(i, j, cell, np.asarray(cnt, dtype=np.float64), len(names), names.names)


def _check_nulls(con, path, src, ma, mb, header) -> None:
    if any(x is None for x in ma) or any(x is None for x in mb):
        line = _first_line(con, src, "model_a IS NULL OR model_b IS NULL", header)
        raise InputError("model_a or model_b is empty; every battle needs both names", path=path, line=line)


def read_battles(path: str | Path, *, style: bool = False) -> Battles:
    """Per-battle integer arrays in file order (for online Elo, style control or Plackett-Luce)."""
    pa = require("pyarrow")
    pc = require("pyarrow.compute")
    cols = _columns(path)
    _require_columns(path, cols)
    src = _source(path)
    header = 1 if "read_csv" in src else 0
    con = _connect()
    extra: list[str] = []
    style_cols = [c for c in cols if c.startswith("style_")]
    if style:
        if style_cols:
            extra = style_cols
        elif "conv_metadata" in cols:
            extra = ["conv_metadata"]
        elif all(f"{k}_{s}" in cols for k in _STYLE_PAIRS for s in "ab") and "sum_assistant_a_tokens" in cols:
            extra = ["sum_assistant_a_tokens", "sum_assistant_b_tokens"]
            extra += [f"{k}_{s}" for k in _STYLE_PAIRS for s in "ab"]
        else:
            raise FormatError(
                "style control needs per-battle features: numeric style_* columns, or Chatbot Arena's "
                "conv_metadata (sum_assistant_a_tokens, header_count_a, ...); none found",
                path=path,
            )
    weight = ["weight"] if "weight" in cols else []
    sel = ", ".join(["model_a", "model_b", "lower(CAST(winner AS VARCHAR)) AS winner"] + weight + extra)
    rel = con.sql(f"SELECT {sel} FROM {src}")
    tbl = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
    if hasattr(tbl, "read_all"):  # some DuckDB versions hand back a record batch reader
        tbl = tbl.read_all()
    if tbl.num_rows == 0:
        return Battles(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), ())
    ma, mb = tbl.column("model_a"), tbl.column("model_b")
    if ma.null_count or mb.null_count:
        _check_nulls(con, path, src, [None], [None], header)
    winners = pc.unique(tbl.column("winner")).to_pylist()
    _check_values(con, path, src, sorted(winners, key=str), header)
    idx = ItemIndex()
    a = idx.encode(ma.cast(pa.string()))
    b = idx.encode(mb.cast(pa.string()))
    order = np.argsort(np.array(idx.names, dtype=object))
    remap = np.empty(len(order), dtype=np.int64)
    remap[order] = np.arange(len(order))
    names = tuple(np.array(idx.names, dtype=object)[order].tolist())
    a, b = remap[a], remap[b]
    wcol = tbl.column("winner").combine_chunks().dictionary_encode()
    codes = np.array([WINNER_CODES[str(w)] for w in wcol.dictionary.to_pylist()], dtype=np.int64)
    outcome = codes[wcol.indices.to_numpy(zero_copy_only=False)]
    if np.any(a == b):
        line = _first_line(con, src, "model_a = model_b", header)
        raise InputError("model_a equals model_b; remove self-battles", path=path, line=line)
    w = tbl.column("weight").to_numpy().astype(np.float64) if weight else None
    feats: np.ndarray | None = None
    fnames: tuple[str, ...] = ()
    if style:
        feats, fnames = _style_features(tbl, extra, pa, pc)
    return Battles(a, b, outcome, names, weight=w, features=feats, feature_names=fnames)


def _num(col, pa, pc) -> np.ndarray:
    """A numeric column, or a struct of numbers summed over its fields; nulls become 0."""
    col = col.combine_chunks() if hasattr(col, "combine_chunks") else col
    if pa.types.is_struct(col.type):
        total = np.zeros(len(col))
        for k in range(col.type.num_fields):
            total += _num(col.field(k), pa, pc)
        return total
    return pc.fill_null(col.cast(pa.float64()), 0.0).to_numpy(zero_copy_only=False)


def _style_features(tbl, extra: list[str], pa, pc) -> tuple[np.ndarray, tuple[str, ...]]:
    if extra and extra[0].startswith("style_"):
        X = np.stack([_num(tbl.column(c), pa, pc) for c in extra], axis=1)
        return X, tuple(c.removeprefix("style_") for c in extra)
    if extra == ["conv_metadata"]:
        meta = tbl.column("conv_metadata").combine_chunks()

        def get(name: str) -> np.ndarray:
            return _num(meta.field(name), pa, pc)
    else:

        def get(name: str) -> np.ndarray:
            return _num(tbl.column(name), pa, pc)

    X = arena_style_features(
        get("sum_assistant_a_tokens"),
        get("sum_assistant_b_tokens"),
        [get(f"{k}_a") for k in _STYLE_PAIRS],
        [get(f"{k}_b") for k in _STYLE_PAIRS],
    )
    return X, STYLE_FEATURES
