"""``prefkit rank``: a leaderboard with intervals from a battle log or a rankings file."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import typer

from prefkit.cli._common import ENGINE_HELP, RAY_ADDRESS_HELP, input_shards, output_file
from prefkit.errors import ValidationError


def _load(file: Path | None, db: Path | None, method: str, style: bool, criterion, source, kind):
    """The one reader per format (DuckDB fast path for arena logs when installed), or the project store."""
    from prefkit.storage import rank_input

    if db is not None and file is None:
        return rank_input.from_store(
            db, method=method, style=style, criterion=criterion, source=source, annotator_kind=kind
        )
    if file is None or db is not None:
        raise ValidationError("give exactly one of FILE or --db PROJECT.db")
    if criterion or source or kind:
        raise ValidationError("--source and --annotator-kind filter a store: use them with --db")
    return rank_input.from_shards(file, method=method, style=style)


def _on_ray(file: Path | None, db: Path | None, method: str, style: bool, address: str | None, quiet: bool):
    """The count table of FILE (a file, a directory of Parquet shards or a glob) reduced on a Ray cluster."""
    from prefkit.cli._common import progress_bar
    from prefkit.storage import rank_input, shards
    from prefkit.storage.engine.reduce import ray_counts

    if db is not None or file is None:
        raise ValidationError(
            "--engine ray reads battle logs (a file, a directory of Parquet shards or a glob); rank --db locally"
        )
    rank_input.check_sharded(method, style)
    n = len(shards.resolve_shards(file))
    with progress_bar(f"reducing {n} shard(s) on Ray", total=n, quiet=quiet) as advance:
        return ray_counts(file, address=address, progress=advance)


def _criteria_data(file: Path, method: str, style: bool, criterion: str | None):
    """None for a file of one criterion when none was asked; else {criterion: leaderboard input}."""
    from prefkit.data import io
    from prefkit.ranking import criteria
    from prefkit.storage.shards import is_sharded

    if is_sharded(file) or io.detect_format(file) == "arena":
        if criterion not in (None, "all", "overall"):
            raise ValidationError(f"unknown --criterion {criterion!r}; an arena log has only: overall")
        return None if criterion is None else {"overall": _load(file, None, method, style, None, None, None)}

    ds = io.read(file)
    wanted = criteria.resolve_criteria(ds, criterion)
    if wanted is None:
        return None
    if style:
        raise ValidationError(
            f"{file}: style control needs an arena log with style_* or conv_metadata columns"
        )
    return {c: criteria.select_criterion(ds, c, method) for c in wanted}


def rank(
    file: Path | None = typer.Argument(
        None,
        help="Battle log (arena Parquet/CSV/JSONL) or any file prefkit can read (or use --db); a directory or "
        "a quoted glob of Parquet shards is ranked through its count table.",
        callback=input_shards,
    ),
    db: Path | None = typer.Option(None, "--db", help="Rank the judgments of this project store instead."),
    source: str | None = typer.Option(
        None, "--source", help="With --db: only judgments imported from this file (path or file name)."
    ),
    annotator_kind: str | None = typer.Option(
        None, "--annotator-kind", help="With --db: only judgments by human or model annotators."
    ),
    method: str = typer.Option("bt", "--method", "-m", help="bt | elo | davidson | rao-kupper | pl"),
    ties: str = typer.Option("half", "--ties", help="half (a tie is half a win each) | drop"),
    ci: str = typer.Option(
        None, "--ci", help="sandwich | bootstrap | none (default: sandwich; elo: bootstrap)"
    ),
    rounds: int = typer.Option(1000, "--rounds", help="Bootstrap rounds."),
    level: float = typer.Option(0.95, "--level", help="Interval coverage."),
    prior: float = typer.Option(
        0.0, "--prior", help="Gaussian prior precision on the logits (0 = plain MLE)."
    ),
    style_control: bool = typer.Option(False, "--style-control", help="Bradley-Terry with style covariates."),
    anchor: str = typer.Option(None, "--anchor", help="Pin one item's rating: NAME=RATING."),
    raw: bool = typer.Option(
        False, "--raw", help="Report natural-log strengths instead of Elo-scale ratings."
    ),
    k: float = typer.Option(4.0, "--k", help="Online Elo K factor."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json | csv"),
    plot: Path = typer.Option(
        None, "--plot", help="Also write a plot: OUT.png or OUT.html.", callback=output_file
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    criterion: str = typer.Option(
        None,
        "--criterion",
        "-c",
        help="Rank one criterion (parent/child names roll up to the parent), or 'all': one leaderboard per "
        "criterion and the Pareto set. Required when the file has several criteria.",
    ),
    weights: str = typer.Option(
        None, "--weights", help="With --criterion all: also a weighted sum, e.g. helpful=2,harmless=1."
    ),
    engine: str = typer.Option("local", "--engine", help=ENGINE_HELP),
    ray_address: str = typer.Option(None, "--ray-address", help=RAY_ADDRESS_HELP),
) -> None:
    """Rank items from pairwise battles (or K-wise rankings) with confidence intervals.

    Example: prefkit rank battles.parquet --method bt --ci bootstrap --rounds 1000 --format json

    Example: prefkit rank --db project.db --criterion overall --format json
    Example: prefkit rank multi.jsonl --criterion all --format json
    Example: prefkit rank 'logs/*.parquet' --engine ray --ray-address 10.0.0.5:6379
    """
    from prefkit.cli._common import print_json, progress_bar
    from prefkit.ranking.leaderboard import METHODS, build_leaderboard
    from prefkit.ranking.scale import EloScale, parse_anchor
    from prefkit.storage.engine import check_engine

    check_engine(engine, ray_address)
    if method not in METHODS:
        raise ValidationError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if fmt not in ("table", "json", "csv"):
        raise ValidationError(f"--format must be table, json or csv, got {fmt!r}")
    if plot is not None and plot.suffix.lower() not in (".png", ".html", ".htm"):
        raise ValidationError(f"--plot must end in .png or .html, got {plot.name!r}")
    anchor_t = parse_anchor(anchor) if anchor else None
    if weights is not None and criterion != "all":
        raise ValidationError("--weights needs --criterion all")
    on_ray = engine == "ray"
    if on_ray and criterion not in (None, "overall"):
        raise ValidationError("--engine ray ranks arena battle logs, which have one criterion: drop --criterion")
    per_criterion = (
        _criteria_data(file, method, style_control, criterion) if db is None and file and not on_ray else None
    )
    if per_criterion is not None and (len(per_criterion) > 1 or criterion == "all"):
        from prefkit.cli.rank_criteria import render_criteria

        opts = dict(ties=ties, ci=ci, rounds=rounds, level=level, prior=prior, scale=EloScale(raw=raw))
        render_criteria(per_criterion, method, opts, anchor_t, k, seed, fmt, weights, quiet)
        return
    if on_ray:
        data = _on_ray(file, db, method, style_control, ray_address, quiet or fmt != "table")
    elif per_criterion is not None:
        data = next(iter(per_criterion.values()))
    else:
        store_criterion = criterion if db is not None else None
        data = _load(file, db, method, style_control, store_criterion, source, annotator_kind)
    effective_ci = ci or ("bootstrap" if method == "elo" else "sandwich")
    total = rounds
    if method == "elo" and effective_ci == "bootstrap":
        total = len(getattr(data, "a", ()))
    show = effective_ci == "bootstrap" and not quiet and fmt == "table"
    with progress_bar(f"{method} bootstrap", total=total, quiet=not show) as advance:
        lb = build_leaderboard(
            data,
            method=method,
            ties=ties,
            ci=ci,
            rounds=rounds,
            level=level,
            prior=prior,
            style=style_control,
            scale=EloScale(raw=raw),
            anchor=anchor_t,
            elo_k=k,
            seed=seed,
            progress=advance,
        )
    if plot is not None:
        from prefkit.ranking.plot import plot_leaderboard

        plot_leaderboard(lb, plot)
    if fmt == "json":
        print_json(lb.to_dict())
    elif fmt == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(["rank", "name", "rating", "lower", "upper", "battles", "wins", "losses", "ties"])
        for r in lb.rows():
            w.writerow(
                [
                    r.rank,
                    r.name,
                    f"{r.rating:.4f}",
                    f"{r.lower:.4f}",
                    f"{r.upper:.4f}",
                    f"{r.battles:g}",
                    f"{r.wins:g}",
                    f"{r.losses:g}",
                    f"{r.ties:g}",
                ]
            )
        for note in lb.notes:  # the table prints them below itself; CSV keeps stdout to the rows
            sys.stderr.write(f"note: {note}\n")
    else:
        _print_table(lb)


def _print_table(lb) -> None:
    from rich.table import Table

    from prefkit.cli._common import console

    what = "no intervals" if lb.ci == "none" else f"{int(lb.level * 100)}% {lb.ci} intervals"
    t = Table(title=f"{lb.method} leaderboard ({what})")
    for col in ("rank", "name", "rating", "lower", "upper", "ranks", "battles", "W-L-T"):
        t.add_column(col, justify="left" if col == "name" else "right", no_wrap=col != "name")
    for r in lb.rows():
        t.add_row(
            str(r.rank),
            r.name,
            f"{r.rating:.1f}",
            f"{r.lower:.1f}",
            f"{r.upper:.1f}",
            f"{r.rank_lower}-{r.rank_upper}",
            f"{r.battles:g}",
            f"{r.wins:g}-{r.losses:g}-{r.ties:g}",
        )
    console.print(t)
    if lb.tie_parameter is not None:
        tp = lb.tie_parameter
        console.print(f"tie parameter {tp.name} = {tp.value:.4f} (se {tp.se:.4f})")
    for c in lb.coefficients:
        console.print(f"style coefficient {c.name} = {c.value:+.4f} (se {c.se:.4f})")
    for note in lb.notes:
        console.print(f"[yellow]note:[/yellow] {note}")


def register(app: typer.Typer) -> None:
    """Add ``prefkit rank`` to the main app."""
    app.command("rank")(rank)
