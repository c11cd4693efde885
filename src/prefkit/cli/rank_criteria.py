"""``prefkit rank --criterion all``: one leaderboard per criterion side by side, the Pareto set, and a
weighted sum only when the user gives weights."""

from __future__ import annotations

import csv
import sys
from typing import Any

from prefkit.ranking.leaderboard_result import Leaderboard


def render_criteria(
    per_criterion: dict[str, Any],
    method: str,
    opts: dict[str, Any],
    anchor: tuple[str, float] | None,
    elo_k: float,
    seed: int,
    fmt: str,
    weights: str | None,
    quiet: bool,
) -> None:
    from prefkit.cli._common import print_json, progress_bar
    from prefkit.ranking.criteria import leaf_criteria
    from prefkit.ranking.leaderboard import build_leaderboard
    from prefkit.ranking.pareto import pareto_front, parse_weights, weighted_scores

    boards: dict[str, Leaderboard] = {}
    with progress_bar("criteria", total=len(per_criterion), quiet=quiet or fmt != "table") as advance:
        for name, data in per_criterion.items():
            boards[name] = build_leaderboard(
                data, method=method, anchor=anchor, elo_k=elo_k, seed=seed, style=False, **opts
            )
            advance(1)
    leaves = leaf_criteria(list(boards))
    front = pareto_front({c: boards[c] for c in leaves})
    weighted = weighted_scores(boards, parse_weights(weights, list(boards))) if weights else None
    if fmt == "json":
        out: dict[str, Any] = {
            "criteria": {c: b.to_dict() for c, b in boards.items()},
            "pareto_criteria": leaves,
            "pareto": [p.to_dict() for p in front],
        }
        if weighted is not None:
            out["weighted"] = [vars(w) for w in weighted]
        print_json(out)
    elif fmt == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(["criterion", "rank", "name", "rating", "lower", "upper", "battles", "pareto"])
        on_front = {p.name for p in front}
        for c, b in boards.items():
            for r in b.rows():
                w.writerow(
                    [
                        c,
                        r.rank,
                        r.name,
                        f"{r.rating:.4f}",
                        f"{r.lower:.4f}",
                        f"{r.upper:.4f}",
                        f"{r.battles:g}",
                        int(r.name in on_front),
                    ]
                )
    else:
        _print_tables(boards, front, leaves, weighted)


def _print_tables(boards: dict[str, Leaderboard], front, leaves: list[str], weighted) -> None:
    from rich.columns import Columns
    from rich.table import Table

    from prefkit.cli._common import console

    tables = []
    for c, b in boards.items():
        t = Table(title=f"{c} ({b.method})")
        for col in ("rank", "name", "rating", "interval"):
            t.add_column(col, justify="left" if col == "name" else "right")
        for r in b.rows():
            t.add_row(str(r.rank), r.name, f"{r.rating:.1f}", f"{r.lower:.0f}..{r.upper:.0f}")
        tables.append(t)
    console.print(Columns(tables))
    console.print(
        f"Pareto set over {', '.join(leaves)} (dominance needs non-overlapping intervals on some criterion): "
        + (", ".join(p.name for p in front) or "(empty)")
    )
    if weighted is not None:
        t = Table(title="weighted sum (your weights)")
        for col in ("name", "score", "interval"):
            t.add_column(col)
        for w in weighted:
            t.add_row(w.name, f"{w.score:.1f}", f"{w.lower:.0f}..{w.upper:.0f}")
        console.print(t)
    for c, b in boards.items():
        for note in b.notes:
            console.print(f"[yellow]note ({c}):[/yellow] {note}")
