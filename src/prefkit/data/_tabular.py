"""Record-level access to the three containers (JSON lines, CSV, Parquet), for reading and writing.

``rows`` yields ``(line, record)`` pairs with the physical line (text) or the 1-based row number (Parquet);
``write_rows`` writes a list of dicts or an Arrow table to the container named by the file suffix.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from prefkit.data import _source
from prefkit.errors import FormatError, ValidationError

CONTAINERS = ("jsonl", "csv", "parquet")


def container_of(path: str | Path) -> str:
    """The container of an existing file, from its content (Parquet magic, first character) and suffix."""
    if _source.is_parquet(path):
        return "parquet"
    head = _source.head_bytes(path, 4096).lstrip(b"\xef\xbb\xbf").lstrip()
    if head[:1] == b"{":
        return "jsonl"
    if head[:1] == b"[":
        raise FormatError(
            "this looks like one JSON array; write one JSON object per line (JSON lines, .jsonl) instead",
            path=path,
            line=1,
        )
    return "csv"


def container_for_output(path: str | Path) -> str:
    """The container named by an output path's suffix (.jsonl[.gz], .json, .csv, .parquet)."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix, kind in ((".jsonl", "jsonl"), (".json", "jsonl"), (".csv", "csv"), (".parquet", "parquet")):
        if name.endswith(suffix):
            return kind
    raise ValidationError(
        f"cannot tell the output container from {str(path)!r}: use a .jsonl, .jsonl.gz, .csv or .parquet suffix"
    )


def columns(path: str | Path, container: str) -> list[str] | None:
    """The column names of a CSV/Parquet file, the keys of the first record of a JSONL file (None if unknown)."""
    if container == "parquet":
        return list(parquet_file(path).schema_arrow.names)
    if container == "csv":
        return _source.csv_header(path)
    rec = _source.first_json_record(path)
    return None if rec is None else list(rec)


def require_columns(path: str | Path, container: str, required: Sequence[str], what: str) -> None:
    """FormatError when a column (or first-record key) in ``required`` is missing."""
    found = columns(path, container)
    if found is None:
        return
    missing = [c for c in required if c not in found]
    if missing:
        raise FormatError(
            f"missing column(s) {', '.join(missing)}; {what} needs {', '.join(required)} "
            f"(found: {', '.join(found) or 'nothing'}); rename the columns or pass the right --from format",
            path=path,
            line=1,
        )


def rows(path: str | Path, container: str, batch_rows: int = 65536) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line, record)`` for every record of the file."""
    if container == "jsonl":
        yield from _source.json_records(path)
    elif container == "csv":
        yield from _source.csv_rows(path)
    elif container == "parquet":
        row = 0
        for batch in parquet_batches(path, batch_rows):
            for rec in batch.to_pylist():
                row += 1
                yield row, rec
    else:  # pragma: no cover - guarded by callers
        raise ValidationError(f"unknown container {container!r}")


def parquet_file(path: str | Path) -> pq.ParquetFile:
    """Open a Parquet file; FormatError (not an Arrow exception) when it is truncated or damaged."""
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FormatError(f"cannot read the Parquet file ({exc}); is it complete?", path=path) from None


def parquet_batches(
    path: str | Path, batch_rows: int, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    pf = parquet_file(path)
    try:
        yield from pf.iter_batches(batch_size=batch_rows, columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FormatError(f"cannot read the Parquet file ({exc}); is it complete?", path=path) from None


def parquet_rows(path: str | Path) -> int:
    return int(parquet_file(path).metadata.num_rows)


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "wt", encoding="utf-8", newline="")
    return path.open("w", encoding="utf-8", newline="")


def write_rows(
    path: str | Path, records: pa.Table | list[dict[str, Any]], container: str | None = None
) -> int:
    """Write records to ``path`` in ``container`` (default: from the suffix); return the number of rows."""
    p = Path(path)
    container = container or container_for_output(p)
    if container == "parquet":
        table = records if isinstance(records, pa.Table) else pa.Table.from_pylist(records)
        pq.write_table(table, p)
        return table.num_rows
    recs = records.to_pylist() if isinstance(records, pa.Table) else records
    with _open_text(p) as fh:
        if container == "jsonl":
            for rec in recs:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        elif container == "csv":
            fields = (
                list(recs[0]) if recs else (records.column_names if isinstance(records, pa.Table) else [])
            )
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(fields)
            for rec in recs:
                w.writerow(["" if rec.get(f) is None else _cell(rec[f]) for f in fields])
        else:
            raise ValidationError(f"unknown container {container!r}; use one of {', '.join(CONTAINERS)}")
    return len(recs)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, list | dict):
        return json.dumps(v, ensure_ascii=False)
    return str(v)
