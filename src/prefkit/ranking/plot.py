"""Plots of a leaderboard: ratings with intervals (PNG via matplotlib) or a self-contained HTML page
(inline SVG of the ratings plus a win-probability heatmap as an HTML table; no external resources)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from prefkit._optional import require
from prefkit.errors import ValidationError
from prefkit.ranking.leaderboard import Leaderboard


def plot_leaderboard(lb: Leaderboard, path: str | Path, *, top: int = 60) -> Path:
    """Write ``path`` (.png or .html). ``top`` limits the number of items shown (best first)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".png":
        _png(lb, p, top)
    elif suffix in (".html", ".htm"):
        p.write_text(leaderboard_html(lb, top=top), encoding="utf-8")
    else:
        raise ValidationError(f"plot file must end in .png or .html, got {p.name!r}")
    return p


def _png(lb: Leaderboard, path: Path, top: int) -> None:
    mpl = require("matplotlib")
    mpl.use("Agg")
    plt = require("matplotlib.pyplot")
    order = lb.order()[:top][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(order) + 1.2))
    y = np.arange(len(order))
    r = lb.rating[order]
    ax.errorbar(r, y, xerr=[r - lb.lower[order], lb.upper[order] - r], fmt="o", capsize=3, color="#1f4e79")
    ax.set_yticks(y, [lb.names[k] for k in order])
    ax.set_xlabel("rating" if not lb.scale.raw else "strength (logit)")
    ax.set_title(f"{lb.method} ratings, {int(lb.level * 100)}% intervals ({lb.ci})")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _svg(lb: Leaderboard, top: int) -> str:
    order = lb.order()[:top]
    lo, hi = float(lb.lower[order].min()), float(lb.upper[order].max())
    span = hi - lo or 1.0
    w, row, left = 720, 20, 220
    h = row * len(order) + 40

    def x(v: float) -> float:
        return left + (w - left - 20) * (v - lo) / span

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
        'font-size="12">'
    ]
    for n, k in enumerate(order):
        yy = 20 + n * row
        name = html.escape(lb.names[k])
        parts.append(f'<text x="{left - 8}" y="{yy + 4}" text-anchor="end">{name}</text>')
        parts.append(
            f'<line x1="{x(lb.lower[k]):.1f}" x2="{x(lb.upper[k]):.1f}" y1="{yy}" y2="{yy}" '
            'stroke="#1f4e79" stroke-width="2"/>'
        )
        parts.append(
            f'<circle cx="{x(lb.rating[k]):.1f}" cy="{yy}" r="4" fill="#1f4e79">'
            f"<title>{name}: {lb.rating[k]:.1f} [{lb.lower[k]:.1f}, {lb.upper[k]:.1f}]</title></circle>"
        )
    for v in np.linspace(lo, hi, 5):
        parts.append(f'<text x="{x(v):.1f}" y="{h - 5}" text-anchor="middle" fill="#555">{v:.0f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _heatmap(lb: Leaderboard, top: int) -> str:
    order = lb.order()[:top]
    head = "".join(f'<th class="c">{html.escape(lb.names[k])}</th>' for k in order)
    rows = []
    for i in order:
        cells = []
        for j in order:
            if i == j:
                cells.append("<td></td>")
                continue
            p = float(lb.win_probability[i, j])
            r, g, b = (
                (int(255 - 120 * max(0.0, p - 0.5) * 2), 255, int(255 - 120 * max(0.0, p - 0.5) * 2))
                if p >= 0.5
                else (255, int(255 - 120 * (0.5 - p) * 2), int(255 - 120 * (0.5 - p) * 2))
            )
            cells.append(f'<td style="background:rgb({r},{g},{b})">{p:.2f}</td>')
        rows.append(f"<tr><th>{html.escape(lb.names[i])}</th>{''.join(cells)}</tr>")
    return f'<table class="heat"><tr><th></th>{head}</tr>{"".join(rows)}</table>'


def leaderboard_html(lb: Leaderboard, *, top: int = 60) -> str:
    """A self-contained HTML page: the table, an inline-SVG interval plot and the win-probability heatmap."""
    trs = "".join(
        f"<tr><td>{r.rank}</td><td>{html.escape(r.name)}</td><td>{r.rating:.1f}</td>"
        f"<td>{r.lower:.1f} &ndash; {r.upper:.1f}</td><td>{r.battles:g}</td></tr>"
        for r in lb.rows()
    )
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:2px 6px;"
        "border:1px solid #ddd;font-size:12px}.heat td{text-align:center}.c{writing-mode:vertical-rl}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>prefkit leaderboard</title><style>{style}"
        f"</style></head><body><h1>Leaderboard ({html.escape(lb.method)}, {int(lb.level * 100)}% {lb.ci} "
        f"intervals)</h1>{_svg(lb, top)}<h2>Ratings</h2><table><tr><th>rank</th><th>name</th><th>rating</th>"
        f"<th>interval</th><th>battles</th></tr>{trs}</table><h2>Predicted P(row beats column)</h2>"
        f"{_heatmap(lb, top)}</body></html>"
    )
