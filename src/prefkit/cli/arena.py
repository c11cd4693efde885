"""``prefkit arena``: the active K-wise arena (simulate matchmaking policies against a known truth)."""

from __future__ import annotations

from pathlib import Path

import typer

from prefkit.cli._common import console, output_file, print_json, progress_bar

arena_app = typer.Typer(help="Active K-wise arena: Bayesian skills and matchmaking.", no_args_is_help=True)


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return "not reached" if x == float("inf") else f"{x:,.0f}"


@arena_app.command("simulate")
def simulate(
    items: int = typer.Option(50, "--items", help="Number of items."),
    k: int = typer.Option(4, "--k", help="Items per K-wise vote (random-elo always uses pairs)."),
    truth: str = typer.Option("pl", "--truth", help="exact | pl | bt | thurstone"),
    sd: float = typer.Option(1.0, "--sd", help="Spread of the true strengths (pl/bt/thurstone)."),
    noise: float = typer.Option(0.0, "--noise", help="Probability a vote is corrupted (a flip)."),
    seeds: int = typer.Option(20, "--seeds", help="Number of simulated arenas per policy."),
    policy: list[str] = typer.Option(
        ["ksort-pl", "infogain", "infogain-pl"],
        "--policy",
        help="Policies to compare (random-elo and ksort always run).",
    ),
    mode: str = typer.Option("rank", "--mode", help="rank (full ranking) | best (pick the best)."),
    horizon: int = typer.Option(20000, "--horizon", help="Votes after which a run stops."),
    position_bias: float = typer.Option(
        0.0, "--position-bias", help="Utility bonus of the first shown item."
    ),
    ties: float = typer.Option(0.0, "--ties", help="Performances closer than this are a tie (rank mode)."),
    workers: int = typer.Option(1, "--workers", help="Processes to use."),
    fmt: str = typer.Option("table", "--format", help="table | json"),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        help="Write convergence curves to this PNG (runs continue to a common number of votes: slower).",
        callback=output_file,
    ),
) -> None:
    """Compare matchmaking policies: median votes to Kendall tau >= 0.9, to the top item, to the exact order.

    Example: prefkit arena simulate --items 50 --k 4 --truth pl --sd 1.0 --seeds 20 --format table
    """
    from prefkit.errors import ValidationError
    from prefkit.ranking.arena.compare import compare_policies, plot_convergence

    if fmt not in ("table", "json"):
        raise ValidationError(f"--format must be table or json, got {fmt!r}")
    n_pol = len(dict.fromkeys(["random-elo", "ksort", *policy]))
    passes = 2 if plot else 1  # the curves continue every run to a common number of votes
    with progress_bar("simulating", total=passes * n_pol * seeds, quiet=fmt == "json") as advance:
        result = compare_policies(
            policy, items=items, k=k, truth=truth, sd=sd, noise=noise, mode=mode, seeds=seeds,
            horizon=horizon, position_bias=position_bias, tie_margin=ties, curves=bool(plot), progress=advance,
            workers=workers,
        )  # fmt: skip
    if plot:
        plot_convergence(result, str(plot))
    if fmt == "json":
        print_json(result.to_dict())
        return
    from rich.table import Table

    title = f"{items} items, K={k}, truth={truth}" + (f", sd={sd}" if truth != "exact" else "")
    title += f", noise={noise}, {seeds} seeds, mode={mode} (median votes)"
    table = Table(title=title)
    for col in (
        "policy",
        "votes to tau>=0.9",
        "95% band",
        "votes to top-1",
        "votes to exact",
        "x fewer than Elo",
    ):
        table.add_column(col, justify="left" if col == "policy" else "right")
    base = next(p for p in result.policies if p.policy == result.baseline).votes_to_tau90
    for p in result.policies:
        ratio = base / p.votes_to_tau90 if p.votes_to_tau90 not in (0, float("inf")) else float("nan")
        band = f"{_fmt(p.tau90_band[0])}-{_fmt(p.tau90_band[1])}"
        table.add_row(
            p.policy,
            _fmt(p.votes_to_tau90),
            band,
            _fmt(p.votes_to_top1),
            _fmt(p.votes_to_exact),
            f"{ratio:.1f}",
        )
    console.print(table)
    if plot:
        console.print(f"convergence curves written to {plot}")


def register(app: typer.Typer) -> None:
    """Add the ``arena`` command group to the main app."""
    app.add_typer(arena_app, name="arena")
