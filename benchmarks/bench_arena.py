"""Active arena benchmark: votes to Kendall tau >= 0.9 per matchmaking policy, and matchmaking latency.

Run: .venv/bin/python benchmarks/bench_arena.py [--seeds 20] [--workers 2]

Scenarios (50 items, K = 4, full-ranking votes, same truths for every policy): noise-free exact order; exact
order with 5% and 10% corrupted votes; Plackett-Luce votes from theta ~ N(0, 1). Prints one table per scenario
(median votes over seeds, 95% bootstrap band) and the time of one ``next_match`` + ``record`` with 1,000 items.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from prefkit.ranking.arena.compare import compare_policies
from prefkit.ranking.arena.engine import Arena, Vote

POLICIES = ("random-elo", "random", "ksort", "ksort-pl", "infogain", "infogain-pl")
SCENARIOS = (
    ("noise-free (exact)", dict(truth="exact", noise=0.0)),
    ("exact, 5% flips", dict(truth="exact", noise=0.05)),
    ("exact, 10% flips", dict(truth="exact", noise=0.10)),
    ("realistic (pl, sd 1.0)", dict(truth="pl", sd=1.0)),
)


def _f(x: float | None) -> str:
    return "-" if x is None else ("inf" if not np.isfinite(x) else f"{x:,.0f}")


def latency(n_items: int = 1000, n: int = 2000) -> dict[str, float]:
    out = {}
    for policy in ("infogain", "ksort", "random"):
        arena = Arena([f"item{i}" for i in range(n_items)], k=4, policy=policy, seed=0)
        t0 = time.perf_counter()
        for _ in range(n):
            m = arena.next_match()
            arena.record(Vote(m.items, ranking=list(m.items), match_id=m.match_id))
        out[policy] = (time.perf_counter() - t0) / n * 1e3
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--horizon", type=int, default=15000)
    args = ap.parse_args()
    t_all = time.perf_counter()
    for title, kw in SCENARIOS:
        t0 = time.perf_counter()
        res = compare_policies(POLICIES, items=args.items, k=args.k, seeds=args.seeds, horizon=args.horizon,
                               workers=args.workers, **kw)  # fmt: skip
        by = {p.policy: p for p in res.policies}
        elo, ks = by["random-elo"].votes_to_tau90, by["ksort"].votes_to_tau90
        print(
            f"\n## {title}: {args.items} items, K={args.k}, {args.seeds} seeds ({time.perf_counter() - t0:.0f} s)"
        )
        print(
            "| policy | votes to tau>=0.9 | 95% band | votes to top-1 | votes to exact | vs random-elo | vs ksort |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for p in res.policies:
            v = p.votes_to_tau90
            band = f"{_f(p.tau90_band[0])}-{_f(p.tau90_band[1])}"
            print(f"| {p.policy} | {_f(v)} | {band} | {_f(p.votes_to_top1)} | {_f(p.votes_to_exact)} "
                  f"| {elo / v:.1f}x | {ks / v:.2f}x |")  # fmt: skip
    print("\n## one next_match + record, 1,000 items, K=4 (ms, mean of 2,000)")
    for policy, ms in latency().items():
        print(f"| {policy} | {ms:.3f} ms |")
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
