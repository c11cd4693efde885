"""Data commands: ``prefkit validate``, ``prefkit info``, ``prefkit convert``."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from prefkit.cli._common import (
    ENGINE_HELP,
    RAY_ADDRESS_HELP,
    console,
    input_file,
    input_shards,
    output_file,
    print_json,
    progress_bar,
    shown,
)

FROM_HELP = "Input format: arena, trl, hh-rlhf, crowd or prefkit (default: detected from the content)."
SKIP_HELP = "Skip bad rows (listed in the output) instead of stopping at the first one."


def _note(text: str) -> None:
    """One plain line on stderr (no wrapping, no markup)."""
    sys.stderr.write(text + "\n")


def _progress(description: str, total: int | None):
    return progress_bar(description, total)


def _read(path: Path, fmt: str | None, skip_bad: bool):
    from prefkit.data import io

    chunks = []
    with _progress(f"reading {path.name}", io.count_rows(path)) as advance:
        for chunk in io.iter_chunks(path, fmt, strict=not skip_bad):
            chunks.append(chunk)
            advance(chunk.n_judgments)
    return io.concat(chunks)


def _report_skipped(skipped: list[tuple[int, str]], path: Path) -> None:
    if skipped:
        _note(f"skipped {len(skipped)} bad row(s):")
        for line, reason in skipped[:20]:
            _note(f"  {path}:{line}: {reason}")
        if len(skipped) > 20:
            _note(f"  ... and {len(skipped) - 20} more")


def validate(
    file: Path = typer.Argument(..., help="The data file to check (- reads stdin).", callback=input_file),
    from_: str | None = typer.Option(None, "--from", help=FROM_HELP),
) -> None:
    """Check a data file; print what it holds, or FILE:LINE and the fix for the first problem (exit 2).

    Example: prefkit validate battles.parquet --from arena
    """
    from prefkit.data import io
    from prefkit.data.summary import summarize

    with _progress(f"checking {file.name}", io.count_rows(file)) as advance:
        s = summarize(file, from_, strict=True, max_components=0, progress=advance)
    typer.echo(
        f"ok: {file} is valid {s.format}: {s.judgments} judgments ({s.pairwise} pairwise, {s.rankings} rankings, "
        f"{s.ratings} ratings) on {s.items} items"
    )
    _report_skipped(s.skipped, file)


def _summary_on_ray(file: Path, from_: str | None, skip_bad: bool, address: str | None, quiet: bool):
    from prefkit.errors import ValidationError
    from prefkit.storage import shards
    from prefkit.storage.engine.reduce import ray_summary

    if from_ not in (None, "arena"):
        raise ValidationError("--engine ray summarises arena battle logs: drop --from or use --from arena")
    if skip_bad:
        raise ValidationError("--skip-bad reads rows one by one on this machine: drop --engine ray or --skip-bad")
    n = len(shards.resolve_shards(file))
    with progress_bar(f"reducing {n} shard(s) on Ray", total=n, quiet=quiet) as advance:
        return ray_summary(file, address=address, progress=advance)


def info(
    file: Path = typer.Argument(
        ...,
        help="The data file to summarise (- reads stdin); with --engine ray also a directory or a quoted glob of "
        "Parquet shards of an arena log.",
        callback=input_shards,
    ),
    from_: str | None = typer.Option(None, "--from", help=FROM_HELP),
    format: str = typer.Option(
        "table", "--format", help="Output: table or json (one JSON object on stdout)."
    ),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_HELP),
    engine: str = typer.Option("local", "--engine", help=ENGINE_HELP),
    ray_address: str = typer.Option(None, "--ray-address", help=RAY_ADDRESS_HELP),
) -> None:
    """Summarise a data file (streamed: works on files larger than memory): items, judgments by shape, ties,
    annotators, and whether the comparison graph is connected (else its components).

    Example: prefkit info crowd-comparisons.csv --format json
    Example: prefkit info 'logs/*.parquet' --engine ray --ray-address 10.0.0.5:6379
    """
    from prefkit.data import io
    from prefkit.data.summary import summarize
    from prefkit.errors import InputError, ValidationError
    from prefkit.storage.engine import check_engine

    if format not in ("table", "json"):
        raise ValidationError(f"--format must be table or json, got {format!r}")
    check_engine(engine, ray_address)
    if engine == "ray":
        s = _summary_on_ray(file, from_, skip_bad, ray_address, format != "table")
    else:
        if file.is_dir() or not file.exists():
            raise InputError("is a directory or a pattern; give a data file (shards: --engine ray)", path=file)
        with _progress(f"reading {file.name}", io.count_rows(file)) as advance:
            s = summarize(file, from_, strict=not skip_bad, progress=advance)
    if format == "json":
        print_json(s.to_dict())
        return
    from rich.table import Table

    typer.echo(shown(file))
    table = Table(show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    rows = [
        ("format", s.format),
        ("items", s.items),
        ("judgments", s.judgments),
        ("  pairwise", s.pairwise),
        ("  rankings", s.rankings),
        ("  ratings", s.ratings),
        ("ties (incl. both bad)", s.ties),
        ("both bad", s.both_bad),
        ("annotators", s.annotators),
        ("contexts", s.contexts),
        ("criteria", ", ".join(s.criteria)),
        ("distinct pairs", s.distinct_pairs),
        ("connected", "yes" if s.connected else f"no: {s.n_components} components"),
    ]
    for k, v in rows:
        table.add_row(k, str(v))
    console.print(table)
    if not s.connected:
        for i, comp in enumerate(s.components[:10]):
            more = f", ... ({len(comp)} items)" if len(comp) > 8 else ""
            typer.echo(f"  component {i}: {', '.join(comp[:8])}{more}")
        if s.n_components > 10:
            typer.echo(f"  ... and {s.n_components - 10} more components (see --format json)")
    _report_skipped(s.skipped, file)


def convert(
    input: Path = typer.Argument(..., help="The file to read (- reads stdin).", callback=input_file),
    output: Path = typer.Argument(
        ..., help="The file to write (.jsonl, .jsonl.gz, .csv or .parquet).", callback=output_file
    ),
    from_: str | None = typer.Option(None, "--from", help=FROM_HELP),
    to: str | None = typer.Option(
        None,
        "--to",
        help="Output: trl, arena, jsonl (prefkit JSONL), parquet (arena or TRL Parquet by content), crowd, "
        "hh-rlhf (default: from OUTPUT's suffix and the content).",
    ),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_HELP),
) -> None:
    """Convert between formats (rankings/ratings become pairs for arena and TRL output; TRL drops ties).

    Example: prefkit convert battles.csv battles.parquet --to arena
    """
    from prefkit.data import io
    from prefkit.data.convert import to_pairwise

    container: str | None = None
    fmt: str | None = None
    if to is not None:
        t = to.lower()
        if t == "parquet":
            container = "parquet"
        else:
            fmt = io.normalize_format("prefkit" if t == "jsonl" else t)
    io.output_format(io.Dataset(), output, fmt, container)  # a bad suffix fails before the (long) read
    ds = _read(input, from_, skip_bad)
    fmt, container = io.output_format(ds, output, fmt, container)
    if fmt in ("trl", "arena", "hh-rlhf", "crowd") and (len(ds.rankings) or len(ds.ratings)):
        conv = to_pairwise(ds)
        _note(
            f"converted {len(ds.rankings)} rankings into {conv.from_rankings} pairs and {len(ds.ratings)} "
            f"ratings into {conv.from_ratings} pairs"
        )
        ds = conv.dataset
    res = io.write(ds, output, fmt, container=container)
    dropped = ""
    if res.dropped_ties or res.dropped_both_bad:
        dropped = f"; dropped {res.dropped_ties} ties and {res.dropped_both_bad} both-bad judgments"
    _note(f"wrote {res.rows} rows to {output} ({res.format}, {res.container}){dropped}")
    _report_skipped(ds.meta.get("skipped", []), input)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the main app."""
    app.command("validate")(validate)
    app.command("info")(info)
    app.command("convert")(convert)
