"""Read and write preference data in every interchange format, with auto-detection.

Formats: ``arena`` (battle logs: JSONL / CSV / Parquet), ``trl`` (``{prompt?, chosen, rejected}``: JSONL /
Parquet / CSV), ``hh-rlhf`` (Anthropic transcripts, JSONL[.gz]), ``crowd`` (llmfao-style CSV) and ``prefkit``
(our own JSONL for pairs, rankings and ratings). The container (JSONL, CSV, Parquet, gzip) is recognised from
the content when reading and from the suffix when writing.

    >>> ds = read("battles.parquet")                 # doctest: +SKIP
    >>> for chunk in iter_chunks("huge.parquet"):     # doctest: +SKIP
    ...     ...                                        # chunks share one ItemIndex
    >>> write(ds, "pairs.jsonl", format="trl")        # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from prefkit.data import _source, _tabular
from prefkit.data._build import Builder, Context
from prefkit.data.formats import arena, crowd, hh, llmfao, native, trl
from prefkit.data.model import Dataset, PairwiseTable, RankingTable, RatingTable, ResponseTable
from prefkit.errors import FormatError, ValidationError

FORMATS = ("arena", "trl", "hh-rlhf", "crowd", "prefkit")
_ALIASES = {"hh": "hh-rlhf", "jsonl": "prefkit", "native": "prefkit", "llmfao": "crowd"}
_PARSERS: dict[str, Callable[..., Iterator[None]]] = {
    "arena": arena.parse,
    "trl": trl.parse,
    "hh-rlhf": hh.parse,
    "crowd": crowd.parse,
    "prefkit": native.parse,
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "arena": arena.REQUIRED,
    "trl": trl.REQUIRED,
    "hh-rlhf": hh.REQUIRED,
    "crowd": crowd.REQUIRED,
    "prefkit": (),
}
_WHAT = {
    "arena": "an arena battle log",
    "trl": "a TRL preference file",
    "hh-rlhf": "an hh-rlhf file",
    "crowd": "a crowd comparison log",
    "prefkit": "a prefkit JSONL file",
}
DEFAULT_CHUNK_ROWS = 262_144


def normalize_format(fmt: str | None) -> str | None:
    """Canonical format name (``None`` stays ``None``); ValidationError naming the choices otherwise."""
    if fmt is None:
        return None
    f = _ALIASES.get(fmt.lower(), fmt.lower())
    if f not in FORMATS:
        raise ValidationError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return f


def detect_format(path: str | Path) -> str:
    """Recognise the format of ``path`` from its content (columns / keys of the first record)."""
    if not _source.is_parquet(path):
        _source.check_text(path, "a preference data file (arena, trl, hh-rlhf, crowd or prefkit JSONL)")
    container = _tabular.container_of(path)
    cols = _tabular.columns(path, container)
    if cols is None:
        # first line is not a JSON object: report it precisely
        for _ in _source.json_records(path):
            break
        raise FormatError("cannot read the first record", path=path, line=1)  # pragma: no cover
    cs = set(cols)
    if container == "jsonl" and "type" in cs:
        return "prefkit"
    if {"model_a", "model_b"} <= cs and ("winner" in cs or set(arena.ONE_HOT) <= cs):
        return "arena"
    if {"left", "right", "winner"} <= cs:
        return "crowd"
    if {"chosen", "rejected"} <= cs:
        first = next(_tabular.rows(path, container, batch_rows=16), (0, {}))[1].get("chosen")
        if isinstance(first, str) and "\n\nHuman:" in first and hh.TURN in first and "prompt" not in cs:
            return "hh-rlhf"
        return "trl"
    for fmt in ("arena", "crowd", "trl"):
        req = _REQUIRED[fmt]
        have = [c for c in req if c in cs]
        if have and len(have) >= len(req) - 1:
            _tabular.require_columns(path, container, req, _WHAT[fmt])
    raise FormatError(
        f"cannot recognise the format from the columns ({', '.join(cols) or 'none'}); expected arena "
        "(model_a, model_b, winner), trl or hh-rlhf (chosen, rejected), crowd (left, right, winner) or prefkit "
        'JSONL (a "type" field); rename the columns or pass the format explicitly (--from / format=)',
        path=path,
        line=1,
    )


def _template(path: str | Path, fmt: str, ctx: Context) -> Dataset:
    ds = Dataset(source=str(path))
    ds.meta["format"] = fmt
    ds.meta["skipped"] = ctx.skipped
    return ds


def iter_chunks(
    path: str | Path,
    format: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    *,
    strict: bool = True,
    texts: str | Path | None = None,
) -> Iterator[Dataset]:
    """Read ``path`` in chunks of about ``chunk_rows`` judgments; all chunks share the same ItemIndex objects.

    Memory stays bounded by the chunk size (plus the indexes and texts). ``strict=False`` skips bad rows and
    lists them in ``chunk.meta["skipped"]`` as ``(line, reason)``; ``strict=True`` raises on the first one.
    A crowd log gets its prompt and response texts from an llmfao directory (``prompts.jsonl`` and
    ``results.jsonl``): ``texts``, or the log's own directory when it holds both files.
    """
    if chunk_rows < 1:
        raise ValidationError(f"chunk_rows must be >= 1, got {chunk_rows}")
    fmt = normalize_format(format) or detect_format(path)
    parquet = _source.is_parquet(path)
    if not parquet:
        _source.check_text(path, _WHAT[fmt])
    container = _tabular.container_of(path)
    cols = _tabular.columns(path, container)
    required = arena.required_columns(cols) if fmt == "arena" else _REQUIRED[fmt]
    _tabular.require_columns(path, container, required, _WHAT[fmt])
    ctx = Context(path=path, strict=strict)
    t = _template(path, fmt, ctx)
    total = 0
    if fmt == "arena" and container == "parquet" and not arena.needs_row_reader(cols or []):
        gen: Iterator[Dataset] = arena.parquet_chunks(path, t, ctx, chunk_rows)
    else:
        builder = Builder(t, ctx)
        gen = _drive(_PARSERS[fmt](_tabular.rows(path, container), builder), builder, chunk_rows)
    if texts is None and fmt == "crowd" and llmfao.has_texts(Path(path).parent):
        texts = Path(path).parent
    if texts is not None:
        if fmt != "crowd":
            raise ValidationError(f"texts= (an llmfao directory) goes with crowd logs, not {fmt}")
        gen = map(llmfao.Texts(texts).attach, gen)
        t.meta["texts"] = str(texts)
    for chunk in _arrow_errors(gen, path):
        total += chunk.n_judgments
        if chunk.n_judgments:
            yield chunk
    if total == 0:
        if ctx.skipped:
            raise FormatError(
                f"every row was bad (first, line {ctx.skipped[0][0]}: {ctx.skipped[0][1]})", path=path
            )
        raise FormatError(f"no judgments found; expected {_WHAT[fmt]}", path=path)


def _arrow_errors(gen: Iterator[Dataset], path: str | Path) -> Iterator[Dataset]:
    """pyarrow's exceptions while reading (a column of the wrong type, a damaged file) as FormatError."""
    import pyarrow as pa

    try:
        yield from gen
    except pa.ArrowException as exc:
        msg = " ".join(str(exc).split())
        raise FormatError(
            f"a column cannot be read as expected ({msg}); check the column types (names and labels are text, "
            "weights numbers)",
            path=path,
        ) from None


def _drive(parser: Iterator[None], builder: Builder, chunk_rows: int) -> Iterator[Dataset]:
    for _ in parser:
        if len(builder) >= chunk_rows:
            yield builder.flush()
    yield builder.flush()


def concat(chunks: list[Dataset]) -> Dataset:
    """One Dataset from chunks that share their indexes (as produced by :func:`iter_chunks`)."""
    if not chunks:
        raise ValidationError("concat needs at least one chunk")
    if len(chunks) == 1:
        return chunks[0]
    first = chunks[0]
    meta = dict(first.meta)
    for key, value in first.meta.items():
        if isinstance(value, np.ndarray) and len(value) == len(first.pairwise):
            meta[key] = np.concatenate([c.meta[key] for c in chunks])
    return replace(
        first,
        pairwise=PairwiseTable.concat([c.pairwise for c in chunks]),
        rankings=RankingTable.concat([c.rankings for c in chunks]),
        ratings=RatingTable.concat([c.ratings for c in chunks]),
        responses=ResponseTable.concat([c.responses for c in chunks]),
        meta=meta,
    )


def read(
    path: str | Path,
    format: str | None = None,
    *,
    strict: bool = True,
    texts: str | Path | None = None,
) -> Dataset:
    """Read a whole preference data file into memory (see :func:`iter_chunks` for huge files).

    ``format`` is one of ``arena``, ``trl``, ``hh-rlhf``, ``crowd``, ``prefkit`` (default: detected).
    Raises InputError / FormatError ``FILE:LINE: ...`` on bad input; with ``strict=False`` bad rows are
    skipped and listed in ``ds.meta["skipped"]`` as ``(line, reason)``.
    """
    return concat(list(iter_chunks(path, format, chunk_rows=1 << 62, strict=strict, texts=texts)))


def count_rows(path: str | Path) -> int | None:
    """Number of records when cheap to know (Parquet metadata), else None."""
    return _tabular.parquet_rows(path) if _source.is_parquet(path) else None


@dataclass(frozen=True)
class WriteResult:
    """What :func:`write` wrote: the format, the container, the rows, and the judgments it had to drop."""

    format: str
    container: str
    rows: int
    dropped_ties: int = 0
    dropped_both_bad: int = 0


def output_format(
    ds: Dataset, path: str | Path, format: str | None = None, container: str | None = None
) -> tuple[str, str]:
    """``(format, container)`` that :func:`write` would use for ``ds`` at ``path``."""
    fmt = normalize_format(format)
    if container is None:
        try:
            container = _tabular.container_for_output(path)
        except ValidationError:
            if fmt is None or fmt in ("prefkit", "hh-rlhf"):
                raise
            container = "jsonl"
    if container not in _tabular.CONTAINERS:
        raise ValidationError(f"unknown container {container!r}; use one of {', '.join(_tabular.CONTAINERS)}")
    if fmt is None:
        if container == "jsonl":
            fmt = "prefkit"
        else:
            fmt = "trl" if ds.item_text else "arena"
    if fmt == "prefkit" and container != "jsonl":
        raise ValidationError("prefkit's own format is JSON lines: use a .jsonl or .jsonl.gz output path")
    if fmt == "hh-rlhf" and container != "jsonl":
        raise ValidationError("hh-rlhf files are JSON lines: use a .jsonl or .jsonl.gz output path")
    return fmt, container


def write(
    ds: Dataset, path: str | Path, format: str | None = None, *, container: str | None = None
) -> WriteResult:
    """Write ``ds`` to ``path``; the container comes from the suffix (.jsonl[.gz], .csv, .parquet).

    ``container`` (jsonl, csv, parquet) overrides the suffix. ``format=None`` picks prefkit JSONL for .jsonl, and for .csv/.parquet TRL rows when the items carry
    texts, an arena log otherwise. TRL/hh-rlhf output drops ties and both_bad (counted in the result).
    """
    fmt, container = output_format(ds, path, format, container)
    writers: dict[str, Callable[[Dataset, Any, str], Any]] = {
        "arena": arena.write,
        "trl": trl.write,
        "hh-rlhf": hh.write,
        "crowd": crowd.write,
        "prefkit": native.write,
    }
    out = writers[fmt](ds, path, container)
    if isinstance(out, tuple):
        return WriteResult(fmt, container, out[0], out[1], out[2])
    return WriteResult(fmt, container, out)
