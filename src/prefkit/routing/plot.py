"""The budget curve: agreement (with intervals) of each policy against the human budget, and Kendall's tau."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prefkit._optional import require
from prefkit.errors import ValidationError
from prefkit.routing.simulate import BudgetResult


def plot_curve(results: Sequence[BudgetResult], path: str | Path, *, title: str = "") -> Path:
    """Write a PNG: agreement with held-back human votes (left) and leaderboard tau (right) per budget."""
    p = Path(path)
    if p.suffix.lower() != ".png":
        raise ValidationError(f"plot file must end in .png, got {p.name!r}")
    mpl = require("matplotlib")
    mpl.use("Agg")
    plt = require("matplotlib.pyplot")
    xs = [r.budget * 100 for r in results]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    colors = {"routed": "#1f4e79", "random": "#c55a11", "all-ai": "#7f7f7f", "all-human": "#548235"}
    for pol in ("routed", "random", "all-ai", "all-human"):
        sc = [r.score(pol) for r in results]
        style = "-o" if pol in ("routed", "random") else "--"
        ax1.plot(xs, [s.agreement for s in sc], style, color=colors[pol], label=pol, ms=3)
        if pol in ("routed", "random"):
            ax1.fill_between(xs, [s.agreement_lower for s in sc], [s.agreement_upper for s in sc],
                             color=colors[pol], alpha=0.2)  # fmt: skip
        ax2.plot(xs, [s.tau for s in sc], style, color=colors[pol], label=pol, ms=3)
    ax1.set_xlabel("human budget (% of instances)")
    ax1.set_ylabel("agreement with held-back human votes")
    ax2.set_xlabel("human budget (% of instances)")
    ax2.set_ylabel("Kendall tau vs held-back leaderboard")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(p, dpi=120)
    plt.close(fig)
    return p
