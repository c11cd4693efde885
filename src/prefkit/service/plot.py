"""The leaderboard's interval plot as inline SVG (no JavaScript, no external assets)."""

from __future__ import annotations

from html import escape
from typing import Any


def svg_plot(board: Any, width: int = 640, row: int = 26) -> str:
    """One row per model: the score as a dot, the 95% interval as a bar, best at the top."""
    rows = board.rows
    if not rows:
        return ""
    lo = min(r.lo for r in rows)
    hi = max(r.hi for r in rows)
    if hi - lo < 1e-12:
        lo, hi = lo - 1.0, hi + 1.0
    left, right, top = 150, 20, 24
    span = width - left - right
    height = top + row * len(rows) + 10

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * span

    parts = [
        f'<svg class="plot" role="img" aria-label="ratings with 95% intervals" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{left}" y="14" class="axis">{lo:.2f}</text>',
        f'<text x="{width - right}" y="14" class="axis" text-anchor="end">{hi:.2f}</text>',
    ]
    for i, r in enumerate(rows):
        y = top + i * row + row / 2
        parts.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" class="lbl">{escape(r.name)}</text>'
        )
        parts.append(f'<line x1="{x(r.lo):.1f}" x2="{x(r.hi):.1f}" y1="{y:.1f}" y2="{y:.1f}" class="ci"/>')
        parts.append(f'<circle cx="{x(r.score):.1f}" cy="{y:.1f}" r="5" class="pt"/>')
    parts.append("</svg>")
    return "".join(parts)
