"""Small inline-SVG charts for the self-contained report: interval (forest) plots, heatmaps, reliability.

Every chart has a ``viewBox`` and ``width="100%"`` so it scales down to a phone's width; text is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

PALETTE = ("#1f4e79", "#c0504d", "#4f8f3a", "#8064a2", "#d08a1a", "#2c8c99", "#7f7f7f")


def _e(s: object) -> str:
    return html.escape(str(s))


def forest(
    labels: Sequence[str],
    series: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    *,
    title: str = "",
    ref: float | None = 0.0,
    fmt: str = "{:.2f}",
) -> str:
    """Points with intervals, one row per label and one colour per series ``(name, mean, lower, upper)``."""
    n_rows, n_ser = len(labels), max(len(series), 1)
    row_h = 10 + 9 * n_ser
    left, right, top = 150, 16, 30
    w = 480
    h = top + row_h * n_rows + 48
    vals = np.concatenate([np.concatenate([lo, hi, m]) for _, m, lo, hi in series]) if series else np.zeros(1)
    vals = vals[np.isfinite(vals)]
    lo_v, hi_v = (float(vals.min()), float(vals.max())) if vals.size else (-1.0, 1.0)
    if ref is not None:
        lo_v, hi_v = min(lo_v, ref), max(hi_v, ref)
    span = (hi_v - lo_v) or 1.0
    lo_v, hi_v = lo_v - 0.05 * span, hi_v + 0.05 * span
    span = hi_v - lo_v

    def x(v: float) -> float:
        return left + (w - left - right) * (v - lo_v) / span

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img" '
        f'aria-label="{_e(title)}" font-family="sans-serif" font-size="12">'
    ]
    if title:
        out.append(f'<text x="{w / 2}" y="16" text-anchor="middle" font-weight="bold">{_e(title)}</text>')
    if ref is not None and lo_v < ref < hi_v:
        out.append(
            f'<line x1="{x(ref):.1f}" x2="{x(ref):.1f}" y1="{top - 6}" y2="{h - 32}" stroke="#999" '
            'stroke-dasharray="3,3"/>'
        )
    for r, lab in enumerate(labels):
        y0 = top + r * row_h
        if r % 2 == 0:
            out.append(f'<rect x="0" y="{y0}" width="{w}" height="{row_h}" fill="#f5f7fa"/>')
        short = lab if len(lab) <= 22 else lab[:21] + "…"
        out.append(
            f'<text x="{left - 8}" y="{y0 + row_h / 2 + 4:.1f}" text-anchor="end">{_e(short)}<title>{_e(lab)}</title></text>'
        )
        for s, (name, m, lo, hi) in enumerate(series):
            yy = y0 + 9 + 9 * s
            if not (np.isfinite(m[r]) and np.isfinite(lo[r]) and np.isfinite(hi[r])):
                out.append(
                    f'<text x="{left + 4}" y="{yy + 4}" fill="#999" font-size="10">not estimable</text>'
                )
                continue
            c = PALETTE[s % len(PALETTE)]
            tip = f"{name} / {lab}: {fmt.format(m[r])} [{fmt.format(lo[r])}, {fmt.format(hi[r])}]"
            out.append(
                f'<line x1="{x(lo[r]):.1f}" x2="{x(hi[r]):.1f}" y1="{yy}" y2="{yy}" stroke="{c}" stroke-width="2"/>'
                f'<circle cx="{x(m[r]):.1f}" cy="{yy}" r="3.5" fill="{c}"><title>{_e(tip)}</title></circle>'
            )
    for v in np.linspace(lo_v, hi_v, 5):
        out.append(
            f'<text x="{x(v):.1f}" y="{h - 24}" text-anchor="middle" fill="#555">{fmt.format(v)}</text>'
        )
    lx = left
    for s, (name, *_rest) in enumerate(series):
        c = PALETTE[s % len(PALETTE)]
        out.append(
            f'<circle cx="{lx}" cy="{h - 9}" r="4" fill="{c}"/><text x="{lx + 8}" y="{h - 5}">{_e(name)}</text>'
        )
        lx += 16 + 7 * len(name)
    out.append("</svg>")
    return "".join(out)


def heatmap(
    names: Sequence[str], matrix: np.ndarray, *, title: str = "", fmt: str = "{:.2f}", center: float = 0.5
) -> str:
    """A square matrix as coloured SVG cells (green above ``center``, red below), values as text."""
    n = len(names)
    cell, left, top = 34, 150, 150
    w, h = left + cell * n + 10, top + cell * n + 10
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img" '
        f'aria-label="{_e(title)}" font-family="sans-serif" font-size="11">'
    ]
    for i, nm in enumerate(names):
        out.append(
            f'<text x="{left - 6}" y="{top + cell * i + cell / 2 + 4}" text-anchor="end">{_e(nm[:24])}</text>'
        )
        xx = left + cell * i + cell / 2 + 4
        out.append(f'<text transform="translate({xx},{top - 6}) rotate(-60)">{_e(nm[:24])}</text>')
    for i in range(n):
        for j in range(n):
            v = float(matrix[i, j])
            if i == j or not np.isfinite(v):
                fill = "#ffffff"
            else:
                d = max(-1.0, min(1.0, (v - center) * 2))
                fill = (
                    f"rgb({int(255 - 150 * d)},{255},{int(255 - 150 * d)})"
                    if d >= 0
                    else f"rgb(255,{int(255 + 150 * d)},{int(255 + 150 * d)})"
                )
            x0, y0 = left + cell * j, top + cell * i
            out.append(
                f'<rect x="{x0}" y="{y0}" width="{cell}" height="{cell}" fill="{fill}" stroke="#ddd"/>'
            )
            if i != j and np.isfinite(v):
                out.append(
                    f'<text x="{x0 + cell / 2}" y="{y0 + cell / 2 + 4}" text-anchor="middle" font-size="10">'
                    f"{fmt.format(v)}<title>{_e(names[i])} vs {_e(names[j])}: {fmt.format(v)}</title></text>"
                )
    out.append("</svg>")
    return "".join(out)


def reliability(
    bin_confidence: np.ndarray, bin_accuracy: np.ndarray, bin_count: np.ndarray, *, title: str
) -> str:
    """Accuracy against confidence per bin, with the diagonal of perfect calibration."""
    s, pad = 300, 40
    w, h = s + 2 * pad, s + 2 * pad

    def x(v: float) -> float:
        return pad + s * (v - 0.5) / 0.5

    def y(v: float) -> float:
        return pad + s * (1 - v)

    k = len(bin_count)
    bw = s / k
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" style="max-width:420px" '
        f'role="img" aria-label="{_e(title)}" font-family="sans-serif" font-size="11">',
        f'<text x="{w / 2}" y="16" text-anchor="middle" font-weight="bold">{_e(title)}</text>',
        f'<rect x="{pad}" y="{pad}" width="{s}" height="{s}" fill="none" stroke="#999"/>',
    ]
    for b in range(k):
        if bin_count[b] <= 0:
            continue
        acc = float(bin_accuracy[b])
        out.append(
            f'<rect x="{pad + b * bw + 1:.1f}" y="{y(acc):.1f}" width="{bw - 2:.1f}" height="{s * acc:.1f}" '
            f'fill="#4477aa"><title>confidence {bin_confidence[b]:.2f}: accuracy {acc:.2f} '
            f"({int(bin_count[b])} pairs)</title></rect>"
        )
    out.append(
        f'<line x1="{x(0.5)}" y1="{y(0.5)}" x2="{x(1)}" y2="{y(1)}" stroke="#000" stroke-dasharray="4,3"/>'
    )
    for v in (0.5, 0.75, 1.0):
        out.append(f'<text x="{x(v)}" y="{h - 22}" text-anchor="middle">{v:.2f}</text>')
    for v in (0.0, 0.5, 1.0):
        out.append(f'<text x="{pad - 4}" y="{y(v) + 4}" text-anchor="end">{v:.1f}</text>')
    out.append(f'<text x="{w / 2}" y="{h - 6}" text-anchor="middle">confidence</text>')
    out.append("</svg>")
    return "".join(out)
