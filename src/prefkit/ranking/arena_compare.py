"""Policies side by side over many seeds: median votes to each target, bootstrap bands, convergence curves."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from prefkit.errors import ValidationError
from prefkit.ranking.arena_presets import PRESETS
from prefkit.ranking.simulate import RunResult, make_truth, run_policy

__all__ = ["BASELINE", "Comparison", "PolicySummary", "compare_policies", "plot_convergence"]

BASELINE = "random-elo"
ALWAYS = ("random-elo", "ksort")


@dataclass(frozen=True)
class PolicySummary:
    """Medians over seeds (+inf: the median run did not get there) and 95% bootstrap bands of the median."""

    policy: str
    votes_to_tau90: float
    votes_to_top1: float
    votes_to_exact: float | None
    tau90_band: tuple[float, float]
    top1_band: tuple[float, float]
    reached_tau90: float  # fraction of seeds that reached tau >= 0.9 within the horizon
    curve_votes: np.ndarray
    curve_tau: np.ndarray  # median tau over seeds at curve_votes


@dataclass(frozen=True)
class Comparison:
    items: int
    k: int
    truth: str
    sd: float
    noise: float
    mode: str
    seeds: int
    policies: tuple[PolicySummary, ...]
    baseline: str = BASELINE

    @property
    def best_ratio_vs_baseline(self) -> float | None:
        base = next(p for p in self.policies if p.policy == self.baseline).votes_to_tau90
        others = [p.votes_to_tau90 for p in self.policies if p.policy != self.baseline]
        best = min(others) if others else np.inf
        return float(base / best) if np.isfinite(best) and best > 0 and np.isfinite(base) else None

    def to_dict(self) -> dict:
        def num(x: float | None) -> float | None:
            return None if x is None or not np.isfinite(x) else float(x)

        return {
            "items": self.items,
            "k": self.k,
            "truth": self.truth,
            "sd": self.sd,
            "noise": self.noise,
            "mode": self.mode,
            "seeds": self.seeds,
            "policies": [
                {
                    "policy": p.policy,
                    "votes_to_tau90": num(p.votes_to_tau90),
                    "votes_to_top1": num(p.votes_to_top1),
                    "votes_to_exact": num(p.votes_to_exact),
                    "tau90_band": [num(x) for x in p.tau90_band],
                    "top1_band": [num(x) for x in p.top1_band],
                    "reached_tau90": p.reached_tau90,
                    "description": PRESETS[p.policy].description,
                }
                for p in self.policies
            ],
            "baseline": self.baseline,
            "best_ratio_vs_baseline": num(self.best_ratio_vs_baseline),
        }


def _band(values: np.ndarray, rng: np.random.Generator, rounds: int = 500) -> tuple[float, float]:
    boot = np.median(rng.choice(values, size=(rounds, values.size)), axis=1)
    return float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))


def _curve(runs: Sequence[RunResult], horizon: int) -> tuple[np.ndarray, np.ndarray]:
    grid = np.unique(np.geomspace(1, horizon, 60).astype(int))
    taus = np.array([[r.tau[min(g, r.tau.size) - 1] for g in grid] for r in runs])
    return grid, np.median(taus, axis=0)


def summarize(policy: str, runs: Sequence[RunResult], horizon: int, seed: int = 0) -> PolicySummary:
    rng = np.random.default_rng(seed)
    t90 = np.array([r.votes_to_tau90 for r in runs])
    top = np.array([r.votes_to_top1 for r in runs])
    exact = None if runs[0].votes_to_exact is None else float(np.median([r.votes_to_exact for r in runs]))
    grid, curve = _curve(runs, horizon)
    return PolicySummary(
        policy, float(np.median(t90)), float(np.median(top)), exact, _band(t90, rng), _band(top, rng),
        float(np.mean(np.isfinite(t90))), grid, curve,
    )  # fmt: skip


def compare_policies(
    policies: Sequence[str] = ("random-elo", "ksort", "infogain"),
    *,
    items: int = 50,
    k: int = 4,
    truth: str = "pl",
    sd: float = 1.0,
    noise: float = 0.0,
    mode: str = "rank",
    seeds: int = 20,
    horizon: int = 20000,
    position_bias: float = 0.0,
    tie_margin: float = 0.0,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> Comparison:
    """Run every policy (``random-elo`` and ``ksort`` always included) on the same ``seeds`` truths."""
    names = list(dict.fromkeys([*ALWAYS, *policies]))
    for name in names:
        if name not in PRESETS:
            raise ValidationError(f"unknown arena policy {name!r}: use one of {', '.join(PRESETS)}")
    if seeds < 1:
        raise ValidationError(f"seeds must be >= 1, got {seeds}")
    jobs = [(name, s, items, k, truth, sd, noise, mode, horizon, position_bias, tie_margin) for name in names
            for s in range(seeds)]  # fmt: skip
    results: list[RunResult] = []
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            for r in pool.imap(_job, jobs):
                results.append(r)
                if progress:
                    progress(1)
    else:
        for job in jobs:
            results.append(_job(job))
            if progress:
                progress(1)
    summaries = tuple(summarize(n, [r for r in results if r.policy == n], horizon) for n in names)
    return Comparison(items, k, truth, sd, noise, mode, seeds, summaries)


def _job(job: tuple) -> RunResult:
    name, s, items, k, truth, sd, noise, mode, horizon, bias, ties = job
    tr = make_truth(items, truth, sd=sd, noise=noise, position_bias=bias, tie_margin=ties,
                    rng=np.random.default_rng([s, 7]))  # fmt: skip
    return run_policy(name, tr, k=k, mode=mode, horizon=horizon, seed=s)


def plot_convergence(comparison: Comparison, path: str) -> None:
    """Median Kendall tau against votes (log scale), one line per policy, saved to ``path``."""
    from prefkit._optional import require

    mpl = require("matplotlib")
    mpl.use("Agg")
    plt = require("matplotlib.pyplot")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for p in comparison.policies:
        ax.plot(p.curve_votes, p.curve_tau, label=p.policy)
    ax.axhline(0.9, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("votes")
    ax.set_ylabel("Kendall tau with the truth (median over seeds)")
    ax.set_title(f"{comparison.items} items, K={comparison.k}, truth={comparison.truth}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
