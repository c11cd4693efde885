"""Low-level reading of text sources: gzip, UTF-8 with line numbers, JSON lines and CSV records.

Every function raises :class:`~prefkit.errors.InputError` (or FormatError) carrying ``FILE:LINE`` so that no
reader has to deal with decoding or parsing exceptions itself.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from prefkit.errors import FormatError, InputError

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
_TEXT_CONTROL = set(range(0, 32)) - {9, 10, 13, 12}


def open_binary(path: str | Path) -> IO[bytes]:
    """Open ``path`` for binary reading, transparently decompressing gzip."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such file; check the path", path=p)
    if p.is_dir():
        raise InputError("is a directory, not a file; pass a data file", path=p)
    with p.open("rb") as fh:
        magic = fh.read(2)
    if magic == GZIP_MAGIC:
        return gzip.open(p, "rb")  # type: ignore[return-value]
    return p.open("rb")


def head_bytes(path: str | Path, n: int = 65536) -> bytes:
    """The first ``n`` (decompressed) bytes of ``path``."""
    with open_binary(path) as fh:
        try:
            return fh.read(n)
        except (OSError, EOFError) as exc:
            raise FormatError(f"cannot decompress ({exc}); is the .gz file complete?", path=path) from None


def is_parquet(path: str | Path) -> bool:
    with Path(path).open("rb") as fh:
        return fh.read(4) == PARQUET_MAGIC


def looks_binary(head: bytes) -> bool:
    """True when ``head`` is clearly not text (NUL bytes or many control characters)."""
    if not head:
        return False
    if b"\x00" in head:
        return True
    sample = head[:4096]
    bad = sum(1 for ch in sample if ch in _TEXT_CONTROL)
    return bad > max(2, len(sample) // 100)


def check_text(path: str | Path, expected: str) -> None:
    """Raise a FormatError for empty or binary files (``expected`` names the format asked for)."""
    head = head_bytes(path)
    if not head.strip():
        raise FormatError(f"the file is empty; expected {expected}", path=path)
    if looks_binary(head):
        raise FormatError(
            f"this is a binary file, not text; expected {expected} (or pass the right --from format)",
            path=path,
        )


def lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line (1-based, newline stripped), decoding UTF-8 strictly."""
    with open_binary(path) as fh:
        lineno = 0
        try:
            for raw in fh:
                lineno += 1
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    byte = raw[exc.start : exc.start + 1].hex()
                    col = len(raw[: exc.start].decode("utf-8", errors="replace")) + 1
                    raise InputError(
                        f"byte 0x{byte} at column {col} is not valid UTF-8 (mixed encodings?); "
                        "re-save the file as UTF-8",
                        path=path,
                        line=lineno,
                    ) from None
                yield lineno, text.rstrip("\r\n")
        except (OSError, EOFError) as exc:
            raise FormatError(
                f"cannot decompress ({exc}); is the .gz file complete?", path=path, line=lineno + 1
            ) from None


def json_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSON-lines file."""
    for lineno, text in lines(path):
        if not text.strip():
            continue
        try:
            obj = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"invalid JSON ({exc.msg} at column {exc.colno}); each line must be one complete JSON object "
                "(is the file truncated?)",
                path=path,
                line=lineno,
            ) from None
        except ValueError as exc:
            raise InputError(str(exc), path=path, line=lineno) from None
        if not isinstance(obj, dict):
            raise InputError(
                f"expected a JSON object per line, found {type(obj).__name__}; wrap each record in {{...}}",
                path=path,
                line=lineno,
            )
        yield lineno, obj


def _reject_constant(name: str) -> float:
    if name == "NaN":
        return math.nan
    raise ValueError(f"{name} is not a valid number; use a finite number or null")


def csv_rows(path: str | Path, required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict[str, str | None]]]:
    """Yield ``(line_number, row)`` for each record of a CSV file with a header (empty cells become None).

    ``line_number`` is the physical line on which the record starts.
    """
    src = (text + "\n" for _, text in lines(path))
    reader = csv.reader(src)
    try:
        header = next(reader)
    except StopIteration:
        raise FormatError("the file is empty; expected a CSV header line", path=path) from None
    except csv.Error as exc:
        raise InputError(f"malformed CSV ({exc})", path=path, line=1) from None
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise FormatError(
            f"missing column(s) {', '.join(missing)} in the header (found: {', '.join(header)}); "
            f"add them or pass the right --from format",
            path=path,
            line=1,
        )
    ncol = len(header)
    start = reader.line_num + 1
    try:
        for rec in reader:
            line = start
            start = reader.line_num + 1
            if not rec or (len(rec) == 1 and not rec[0].strip()):
                continue
            if len(rec) != ncol:
                raise InputError(
                    f"expected {ncol} fields as in the header, found {len(rec)}; quote fields that contain commas",
                    path=path,
                    line=line,
                )
            yield line, {h: (v if v != "" else None) for h, v in zip(header, rec, strict=True)}
    except csv.Error as exc:
        raise InputError(f"malformed CSV ({exc})", path=path, line=start) from None


def csv_header(path: str | Path) -> list[str]:
    """The header fields of a CSV file (empty list if none)."""
    for lineno, text in lines(path):
        if text.strip():
            try:
                return [h.strip() for h in next(csv.reader(io.StringIO(text)))]
            except csv.Error as exc:
                raise InputError(f"malformed CSV ({exc})", path=path, line=lineno) from None
    return []


def first_json_record(path: str | Path) -> dict[str, Any] | None:
    """The first JSON object of a JSON-lines file, or None if the first line is not a JSON object."""
    for _, text in lines(path):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        return obj if isinstance(obj, dict) else None
    return None
