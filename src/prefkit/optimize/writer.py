"""Atomic, streaming output: rows go to a temporary file beside the target, renamed into place at the end.

An existing output is refused unless ``force``; on any error the temporary files are removed, so the target is
either the complete new file or untouched. ``n_parts > 1`` spools rows into one temporary part per stage and
joins them in stage order at the end (Curry-DPO curricula), still in bounded memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from prefkit.errors import ValidationError
from prefkit.optimize.trl_format import Columns

CONTAINERS = ("jsonl", "parquet")
SLICE_ROWS = 65_536


def container_of(path: str | Path) -> str:
    """``jsonl`` or ``parquet`` from the suffix; ValidationError otherwise."""
    name = str(path).lower()
    if name.endswith(".jsonl") or name.endswith(".json"):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    raise ValidationError(f"cannot tell the output format of {path}: use a .jsonl or .parquet path")


def check_target(path: str | Path, force: bool) -> Path:
    """The output path, refusing an existing file unless ``force`` and a missing folder."""
    p = Path(path)
    if p.exists() and not force:
        raise ValidationError(
            f"{p} already exists; choose another output path or pass --force to overwrite it"
        )
    if p.is_dir():
        raise ValidationError(f"{p} is a folder; give a file path ending in .jsonl or .parquet")
    if not p.parent.exists():
        raise ValidationError(f"the folder {p.parent} does not exist; create it first")
    container_of(p)
    return p


class RowWriter:
    """Context manager: ``write(columns, part=0)`` per chunk; renamed into place on a clean exit."""

    def __init__(self, path: str | Path, *, force: bool = False, n_parts: int = 1) -> None:
        self.path = check_target(path, force)
        self.container = container_of(self.path)
        self.n_parts = max(1, n_parts)
        self.rows = 0
        self._tmp = [
            self.path.with_name(f".{self.path.name}.part{i}.{os.getpid()}.tmp") for i in range(self.n_parts)
        ]
        self._files: list[Any] = [None] * self.n_parts
        self._schema: pa.Schema | None = None

    def __enter__(self) -> RowWriter:
        return self

    def write(self, cols: Columns, part: int = 0) -> None:
        """Append ``cols`` to part ``part``, in slices of at most ``SLICE_ROWS`` rows (bounded memory)."""
        if not 0 <= part < self.n_parts:
            raise ValidationError(f"part {part} is outside [0, {self.n_parts})")
        n = len(cols)
        if n > SLICE_ROWS:
            for start in range(0, n, SLICE_ROWS):
                self._write(cols.take(np.arange(start, min(n, start + SLICE_ROWS))), part)
        elif n:
            self._write(cols, part)

    def _write(self, cols: Columns, part: int) -> None:
        if self.container == "jsonl":
            if self._files[part] is None:
                self._files[part] = open(self._tmp[part], "w", encoding="utf-8")  # noqa: SIM115
            self._files[part].write(cols.jsonl())
        else:
            table = cols.arrow()
            if self._schema is None:
                self._schema = table.schema
            table = table.cast(self._schema)
            if self._files[part] is None:
                self._files[part] = pq.ParquetWriter(self._tmp[part], self._schema)
            self._files[part].write_table(table)
        self.rows += len(cols)

    def _close_parts(self) -> None:
        for f in self._files:
            if f is not None:
                f.close()

    def _cleanup(self) -> None:
        for t in self._tmp:
            t.unlink(missing_ok=True)

    def _commit(self) -> None:
        self._close_parts()
        parts = [t for t, f in zip(self._tmp, self._files, strict=True) if f is not None]
        if len(parts) == 1:
            os.replace(parts[0], self.path)
            self._cleanup()
            return
        final = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            if self.container == "jsonl":
                with open(final, "wb") as out:
                    for t in parts:
                        with open(t, "rb") as src:
                            while block := src.read(1 << 20):
                                out.write(block)
            else:
                with pq.ParquetWriter(final, self._schema) as out:  # type: ignore[arg-type]
                    for t in parts:
                        pf = pq.ParquetFile(t)
                        for i in range(pf.num_row_groups):
                            out.write_table(pf.read_row_group(i))
            os.replace(final, self.path)
        finally:
            final.unlink(missing_ok=True)
            self._cleanup()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None or self.rows == 0:
            self._close_parts()
            self._cleanup()
            return
        self._commit()
