"""Project store commands: ``prefkit import`` and ``prefkit export``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from prefkit.cli._common import err_console, output_file, print_json, progress_bar

DB_HELP = "The project store (a SQLite file; created by the first import)."
FROM_HELP = "Input format: arena, trl, hh-rlhf, crowd or prefkit (default: detected from the content)."
TO_HELP = (
    "Output format: arena, trl, hh-rlhf, crowd, jsonl (prefkit's own JSONL: pairs, rankings and ratings) or "
    "parquet (TRL rows when items carry texts, else an arena log). Default: from OUT's suffix."
)
PAIRWISE_ONLY = ("arena", "trl", "hh-rlhf", "crowd")


def _progress(description: str, total: int | None) -> Any:
    return progress_bar(description, total, quiet=not err_console.is_terminal)


def _output_format(format: str) -> None:
    from prefkit.errors import ValidationError

    if format not in ("table", "json"):
        raise ValidationError(f"--format must be table or json, got {format!r}")


def _remove_store(db: Path) -> None:
    """Remove a store file this command created (and its WAL companions) after a failed first import."""
    for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        p.unlink(missing_ok=True)


def import_(
    file: Path = typer.Argument(..., help="The data file to import."),
    db: Path = typer.Option(..., "--db", help=DB_HELP),
    from_: str | None = typer.Option(None, "--from", help=FROM_HELP),
    format: str = typer.Option(
        "table", "--format", help="Output: table or json (one JSON object on stdout)."
    ),
    skip_bad: bool = typer.Option(
        False, "--skip-bad", help="Skip bad rows (listed on stderr) instead of refusing the whole file."
    ),
) -> None:
    """Import a data file into a project store: idempotent (judgments already stored are counted, not added
    again) and atomic (a bad file or a failure half-way leaves the store as it was).

    Example: prefkit import battles.jsonl --db project.db
    """
    from prefkit.storage.store import ProjectStore

    _output_format(format)
    existed = db.exists()
    try:
        with ProjectStore(db) as store:
            report = store.import_file(file, from_, strict=not skip_bad, progress=progress_bar)
            counts = store.counts()
    except BaseException:
        if not existed:
            _remove_store(db)
        raise
    seconds, fmt, n = report.seconds, report.format, report.added + report.duplicates
    skipped = report.skipped
    if format == "json":
        out = report.to_dict()
        out["db"] = str(db)
        out["store"] = counts.__dict__
        print_json(out)
        return
    rate = f" ({n / seconds:,.0f} judgments/s)" if seconds > 0 and n else ""
    typer.echo(f"imported {file} ({fmt}) into {db} in {seconds:.2f} s{rate}")
    for shape in ("pairwise", "rankings", "ratings"):
        c = getattr(report, shape)
        if c.added or c.duplicates:
            typer.echo(f"  {shape}: {c.added:,} added, {c.duplicates:,} already present")
    typer.echo(
        f"  new: {report.new_items:,} items, {report.new_contexts:,} contexts, "
        f"{report.new_annotators:,} annotators"
    )
    typer.echo(
        f"store now holds {counts.pairwise:,} pairwise, {counts.rankings:,} rankings, {counts.ratings:,} ratings "
        f"on {counts.items:,} items ({counts.imports} imports)"
    )
    if skipped:
        err_console.print(f"skipped {len(skipped)} bad row(s):", highlight=False, markup=False)
        for line, reason in skipped[:20]:
            err_console.print(f"  {file}:{line}: {reason}", highlight=False, markup=False, soft_wrap=True)
        if len(skipped) > 20:
            err_console.print(f"  ... and {len(skipped) - 20} more", highlight=False, markup=False)


def export(
    out: Path = typer.Argument(
        ..., help="The file to write (.jsonl, .jsonl.gz, .csv or .parquet).", callback=output_file
    ),
    db: Path = typer.Option(..., "--db", help="The project store to read."),
    to: str | None = typer.Option(None, "--to", help=TO_HELP),
    criterion: list[str] | None = typer.Option(
        None, "--criterion", help="Only judgments on this criterion (repeat for several)."
    ),
    annotator_kind: str | None = typer.Option(
        None, "--annotator-kind", help="Only judgments by annotators of this kind: human or model."
    ),
    source: str | None = typer.Option(
        None,
        "--source",
        help="Only judgments first stored by imports of this file (the path given to import, its file name, or the same file).",
    ),
    format: str = typer.Option(
        "table", "--format", help="Output: table or json (one JSON object on stdout)."
    ),
) -> None:
    """Export the judgments of a project store to a data file, optionally filtered.

    Example: prefkit export --db project.db battles.parquet --to arena --criterion overall
    """
    from prefkit.data import io
    from prefkit.storage.store import ProjectStore

    _output_format(format)
    container = None
    fmt = to
    if to is not None and to.lower() == "parquet":
        fmt, container = None, "parquet"
    fmt = io.normalize_format(fmt)
    with ProjectStore(db, create=False) as store, _progress(f"reading {db.name}", None):
        ds = store.to_dataset(
            criterion=criterion or None, annotator_kind=annotator_kind, source=source, empty_ok=False
        )
    chosen, _ = io.output_format(ds, out, fmt, container)
    skipped = {"rankings": 0, "ratings": 0}
    if chosen in PAIRWISE_ONLY and (len(ds.rankings) or len(ds.ratings)):
        from dataclasses import replace

        from prefkit.data.model import RankingTable, RatingTable

        skipped = {"rankings": len(ds.rankings), "ratings": len(ds.ratings)}
        ds = replace(ds, rankings=RankingTable.empty(), ratings=RatingTable.empty())
    with _progress(f"writing {out.name}", None):
        result = io.write(ds, out, chosen, container=container)
    if format == "json":
        print_json(
            {
                "out": str(out),
                "db": str(db),
                "format": result.format,
                "container": result.container,
                "rows": result.rows,
                "dropped_ties": result.dropped_ties,
                "dropped_both_bad": result.dropped_both_bad,
                "skipped_rankings": skipped["rankings"],
                "skipped_ratings": skipped["ratings"],
            }
        )
        return
    typer.echo(f"wrote {result.rows:,} rows to {out} ({result.format}, {result.container})")
    if result.dropped_ties or result.dropped_both_bad:
        err_console.print(
            f"note: {result.format} rows cannot hold ties: dropped {result.dropped_ties:,} ties and "
            f"{result.dropped_both_bad:,} both-bad judgments (use --to jsonl to keep them)",
            highlight=False,
        )
    if skipped["rankings"] or skipped["ratings"]:
        err_console.print(
            f"note: {result.format} holds pairwise judgments only: left out {skipped['rankings']:,} rankings and "
            f"{skipped['ratings']:,} ratings (use --to jsonl to keep them)",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add ``import`` and ``export`` to the main app."""
    app.command("import")(import_)
    app.command("export")(export)
