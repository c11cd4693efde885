"""Policies side by side over many seeds: median votes to each target, bootstrap bands, convergence curves.

A simulated run stops once its targets are confirmed, so runs end at different votes. A convergence curve that
held each run's last value after it stopped would show every policy flattening at the same tau (about the 0.9
target) and would hide what happens after. The curves therefore only cover votes where every run of every
policy is still running: with ``curves=True`` the runs that stopped early are replayed (runs are deterministic
per seed) up to a common horizon of ``CURVE_FACTOR`` times the slowest policy's median votes to tau >= 0.9
(capped at ``horizon``); without it the curves end where the first run stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from prefkit.errors import ValidationError
from prefkit.ranking.arena.presets import PRESETS
from prefkit.ranking.arena.simulate import RunResult, make_truth, run_policy

__all__ = ["BASELINE", "Comparison", "PolicySummary", "compare_policies", "curve_horizon", "plot_convergence"]

BASELINE = "random-elo"
ALWAYS = ("random-elo", "ksort")
CURVE_FACTOR = 1.5


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
    curve_tau: np.ndarray  # median tau over seeds at curve_votes (every run still running there)
    curve_band: tuple[np.ndarray, np.ndarray]  # 95% bootstrap band of that median


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
    curve_horizon: int = 0  # the curves' last vote: every run of every policy was running up to it
    curves_extended: bool = False  # True: runs were continued to a common horizon (curves=True)

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
    with np.errstate(invalid="ignore"):  # between two +inf (never reached) numpy interpolates to nan
        lo, hi = np.quantile(boot, 0.025), np.quantile(boot, 0.975)
    return float(np.nan_to_num(lo, nan=np.inf)), float(np.nan_to_num(hi, nan=np.inf))


def _curve(
    runs: Sequence[RunResult], upto: int, rng: np.random.Generator, rounds: int = 500
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Median tau over runs at votes ``1..upto`` (log grid) and a 95% bootstrap band of the median."""
    grid = np.unique(np.geomspace(1, upto, 60).astype(int))
    taus = np.array([r.tau[grid - 1] for r in runs])  # every run has at least ``upto`` votes
    boot = np.median(taus[rng.integers(len(runs), size=(rounds, len(runs)))], axis=1)
    lo, hi = np.quantile(boot, [0.025, 0.975], axis=0)
    return grid, np.median(taus, axis=0), (lo, hi)


def summarize(policy: str, runs: Sequence[RunResult], upto: int, seed: int = 0) -> PolicySummary:
    """Medians and bands of ``runs`` (one policy); curves over the first ``upto`` votes."""
    rng = np.random.default_rng(seed)
    t90 = np.array([r.votes_to_tau90 for r in runs])
    top = np.array([r.votes_to_top1 for r in runs])
    exact = None if runs[0].votes_to_exact is None else float(np.median([r.votes_to_exact for r in runs]))
    grid, curve, band = _curve(runs, upto, rng)
    return PolicySummary(
        policy, float(np.median(t90)), float(np.median(top)), exact, _band(t90, rng), _band(top, rng),
        float(np.mean(np.isfinite(t90))), grid, curve, band,
    )  # fmt: skip


def curve_horizon(runs: Sequence[RunResult], horizon: int) -> int:
    """The common number of votes for convergence curves: ``CURVE_FACTOR`` x the largest median votes to
    tau >= 0.9 over policies (``horizon`` when some policy's median run never got there), capped at
    ``horizon``."""
    worst = 0.0
    for name in dict.fromkeys(r.policy for r in runs):
        worst = max(worst, float(np.median([r.votes_to_tau90 for r in runs if r.policy == name])))
    return horizon if not np.isfinite(worst) else int(min(horizon, np.ceil(CURVE_FACTOR * worst)))


def _map(jobs: list[tuple], workers: int, progress: Callable[[int], None] | None) -> list[RunResult]:
    results: list[RunResult] = []
    if workers > 1 and len(jobs) > 1:
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
    return results


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
    curves: bool = False,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> Comparison:
    """Run every policy (``random-elo`` and ``ksort`` always included) on the same ``seeds`` truths.

    ``curves=True`` continues every run to a common horizon (see :func:`curve_horizon`) so the convergence
    curves of all policies cover the same votes; it costs one more pass (``progress`` then counts every run
    twice: ``2 * len(policies) * seeds`` steps in all). The medians and bands do not depend on it.
    """
    names = list(dict.fromkeys([*ALWAYS, *policies]))
    for name in names:
        if name not in PRESETS:
            raise ValidationError(f"unknown arena policy {name!r}: use one of {', '.join(PRESETS)}")
    if seeds < 1:
        raise ValidationError(f"seeds must be >= 1, got {seeds}")
    if horizon < 1:
        raise ValidationError(f"horizon must be >= 1, got {horizon}")
    if items >= 2 and not 2 <= k <= items and any(not PRESETS[n].pairwise_only for n in names):
        raise ValidationError(f"k must be between 2 and the number of items ({items}), got {k}")  # before any run
    jobs = [(name, s, items, k, truth, sd, noise, mode, horizon, position_bias, tie_margin, 0) for name in names
            for s in range(seeds)]  # fmt: skip
    results = _map(jobs, workers, progress)
    if curves:
        upto = curve_horizon(results, horizon)
        redo = [i for i, r in enumerate(results) if r.tau.size < upto]
        if progress and len(results) > len(redo):
            progress(len(results) - len(redo))  # these runs already reach the common horizon
        for i, r in zip(redo, _map([(*jobs[i][:-1], upto) for i in redo], workers, progress), strict=True):
            results[i] = r
    upto = min(r.tau.size for r in results)
    summaries = tuple(summarize(n, [r for r in results if r.policy == n], upto) for n in names)
    return Comparison(items, k, truth, sd, noise, mode, seeds, summaries, curve_horizon=upto,
                      curves_extended=curves)  # fmt: skip


def _job(job: tuple) -> RunResult:
    name, s, items, k, truth, sd, noise, mode, horizon, bias, ties, min_votes = job
    tr = make_truth(items, truth, sd=sd, noise=noise, position_bias=bias, tie_margin=ties,
                    rng=np.random.default_rng([s, 7]))  # fmt: skip
    return run_policy(name, tr, k=k, mode=mode, horizon=horizon, seed=s, min_votes=min_votes)


def plot_convergence(comparison: Comparison, path: str) -> None:
    """Median Kendall tau against votes (log scale) with its 95% band, one line per policy, saved to ``path``.

    The curves cover the first ``comparison.curve_horizon`` votes, where every run is still running (build the
    comparison with ``curves=True`` for a common horizon past the slowest policy's convergence).
    """
    from prefkit._optional import require

    mpl = require("matplotlib")
    mpl.use("Agg")
    plt = require("matplotlib.pyplot")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for p in comparison.policies:
        (line,) = ax.plot(p.curve_votes, p.curve_tau, label=p.policy)
        ax.fill_between(p.curve_votes, *p.curve_band, color=line.get_color(), alpha=0.15, lw=0)
    ax.axhline(0.9, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlim(1, max(2, comparison.curve_horizon))
    ends = (
        "every run continued to" if comparison.curves_extended else "curves end where the first run stopped,"
    )
    ax.set_xlabel(f"votes ({ends} {comparison.curve_horizon:,})")
    ax.set_ylabel("Kendall tau with the truth")
    ax.set_title(
        f"{comparison.items} items, K={comparison.k}, truth={comparison.truth}\n"
        f"median over {comparison.seeds} seeds; shaded: 95% bootstrap band of the median",
        fontsize=10,
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
