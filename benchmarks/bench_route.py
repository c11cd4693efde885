"""Routing benchmark (issue 11): the budget curve on llmfao, the synthetic oracle, and fit + plan time.

Run: .venv/bin/python benchmarks/bench_route.py [--seeds 20] [--plot route-curve.png] [--n 100000]

1. llmfao (crowd votes and GPT-4 verdicts on the same 2,139 pairs, texts from the responses): for budgets 0 to
   100% of the pairs routed to a person, routed (the performance-prediction model, cross-fitted on 2 folds, on
   the lexical features, GPT-4's verdict and the pair's leaderboard value) versus random routing: agreement with
   held-back crowd votes (95% bootstrap interval over pairs), the routed - random difference (paired bootstrap)
   and Kendall's tau to the held-back leaderboard. Beside it at 25%: the same PPM on lexical features only
   (HyPER's own kind of features), and single signals used as the gain.
2. Synthetic (known per-feature judge accuracy): the share of the oracle routing's gain over random that the
   learned routing recovers, for the cheap per-instance fit and for HyPER's fit on simulated mixes.
3. Time to fit the design, fit the PPM and plan on 100,000 instances, cheap fit versus the mix fit (200 mixes).
"""

from __future__ import annotations

import os

# one BLAS thread unless told otherwise: on a shared 2-core machine a multithreaded BLAS turns the 18-column ridge
# solve on 100,000 rows from 0.04 s into seconds of oversubscribed spinning
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from prefkit.analysis.llmfao import read_llmfao  # noqa: E402
from prefkit.routing.features import Design, Features, lexical_features  # noqa: E402
from prefkit.routing.instances import pair_instances  # noqa: E402
from prefkit.routing.plot import plot_curve  # noqa: E402
from prefkit.routing.ppm import fit_ppm, fit_ppm_mixes, plan_mask  # noqa: E402
from prefkit.routing.signals import judge_features  # noqa: E402
from prefkit.routing.simulate import simulate  # noqa: E402
from prefkit.routing.synthetic import draw, expected_quality, oracle_fraction  # noqa: E402

SHARED = Path(os.environ.get("PREFKIT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _ci(lo: float, hi: float) -> str:
    return f"[{lo:.4f}, {hi:.4f}]"


def llmfao_curve(seeds: int, plot: Path | None) -> None:
    d = SHARED / "llmfao"
    if not d.is_dir():
        print(f"llmfao not found at {d} (set PREFKIT_SHARED_DATA); skipping the curve")
        return
    pairs = read_llmfao(d)
    inst = pair_instances(pairs, pairs)
    lex = lexical_features(inst.prompt, inst.text_a, inst.text_b)
    full = lex.merge(judge_features(inst))
    design = Design().fit(full)
    budgets = [round(b, 2) for b in np.linspace(0, 1, 21)]
    t = time.perf_counter()
    res, info = simulate(inst, design.transform(full), design.names, budgets, seeds=seeds)
    took = time.perf_counter() - t
    print(f"\n## llmfao: {info['instances']} pairs with >= 2 crowd votes ({info['dropped']} dropped), "
          f"{info['items']} models, {seeds} splits ({took:.1f} s)\n")  # fmt: skip
    print("| budget | routed agreement | random agreement | routed - random | tau routed | tau random |")
    print("|---:|---|---|---|---:|---:|")
    for r in res:
        ro, ra = r.score("routed"), r.score("random")
        d_, lo, hi = r.diff
        print(f"| {r.budget:.0%} | {ro.agreement:.4f} {_ci(ro.agreement_lower, ro.agreement_upper)} | "
              f"{ra.agreement:.4f} {_ci(ra.agreement_lower, ra.agreement_upper)} | {d_:+.4f} [{lo:+.4f}, {hi:+.4f}] | "
              f"{ro.tau:.3f} | {ra.tau:.3f} |")  # fmt: skip
    q = next(r for r in res if r.budget == 0.25)
    for p in ("all-ai", "all-human"):
        s = q.score(p)
        print(
            f"\n{p}: agreement {s.agreement:.4f} {_ci(s.agreement_lower, s.agreement_upper)}, tau {s.tau:.3f}",
            end="",
        )
    dt = q.score("routed").taus - q.score("random").taus
    lo, hi = np.percentile(np.random.default_rng(0).choice(dt, (4000, dt.size)).mean(axis=1), [2.5, 97.5])
    print(f"\n\nAt 25%: routed - random agreement {q.diff[0]:+.4f} [{q.diff[1]:+.4f}, {q.diff[2]:+.4f}] "
          f"({'excludes' if q.diff[1] > 0 or q.diff[2] < 0 else 'includes'} zero); tau routed - random "
          f"{dt.mean():+.4f} [{lo:+.4f}, {hi:+.4f}] (bootstrap over the {seeds} splits)")  # fmt: skip
    # ablations at 25%: lexical features only; one signal as the gain
    print("\nAt 25%, other gains (same splits):\n")
    print("| routing | agreement | routed - random |")
    print("|---|---|---|")
    rows = [("PPM: lexical + judge features", full), ("PPM: lexical features only (HyPER's kind)", lex),
            ("PPM: judge features only", judge_features(inst))]  # fmt: skip
    for name, f in rows:
        dz = Design().fit(f)
        r = simulate(inst, dz.transform(f), dz.names, [0.25], seeds=seeds)[0][0]
        s = r.score("routed")
        print(f"| {name} | {s.agreement:.4f} {_ci(s.agreement_lower, s.agreement_upper)} | "
              f"{r.diff[0]:+.4f} [{r.diff[1]:+.4f}, {r.diff[2]:+.4f}] |")  # fmt: skip
    if plot is not None:
        plot_curve(res, plot, title=f"llmfao: crowd vs GPT-4, {seeds} splits")
        print(f"\nplot: {plot}")


def synthetic_table() -> None:
    print("\n## Synthetic: share of the oracle's gain over random routing\n")
    train, test = draw(10_000, rng=1), draw(10_000, rng=2)
    d = Design().fit(train.features)
    xtr, xte = d.transform(train.features), d.transform(test.features)
    cheap = fit_ppm(xtr, train.observed_gain, d.names)
    # HyPER's way: random mixes scored by their observed agreement (one noisy draw per instance)
    observed_right_h = train.observed_gain  # human - judge per instance (one draw each)
    mixes = fit_ppm_mixes(xtr, lambda m: float(np.where(m, observed_right_h, 0.0).mean()), d.names, mixes=400)
    print(
        "| budget | cheap per-instance fit | fit on 400 simulated mixes | oracle quality | random quality |"
    )
    print("|---:|---:|---:|---:|---:|")
    for b in (0.1, 0.25, 0.5):
        qo = expected_quality(test, plan_mask(test.true_gain, b))
        qr = float(test.judge_accuracy.mean() + round(b * 10_000) / 10_000 * test.true_gain.mean())
        print(f"| {b:.0%} | {oracle_fraction(test, cheap.gain(xte), b):.3f} | "
              f"{oracle_fraction(test, mixes.gain(xte), b):.3f} | {qo:.4f} | {qr:.4f} |")  # fmt: skip


def timing(n: int) -> None:
    print(f"\n## Time on {n:,} instances (2-core machine)\n")
    prob = draw(n, rng=3)
    t0 = time.perf_counter()
    d = Design().fit(prob.features)
    x = d.transform(prob.features)
    t1 = time.perf_counter()
    model = fit_ppm(x, prob.observed_gain, d.names)
    t2 = time.perf_counter()
    mask = plan_mask(model.gain(x), 0.25, 0)
    t3 = time.perf_counter()
    fit_ppm_mixes(x, lambda m: float(np.where(m, prob.observed_gain, 0.0).mean()), d.names, mixes=200)
    t4 = time.perf_counter()
    rng = np.random.default_rng(0)
    words = np.array("the model answer data value system might result method quick brown fox".split())
    texts = [" ".join(rng.choice(words, int(k))) for k in rng.integers(5, 200, 2 * n)]
    prompts = [" ".join(rng.choice(words, 12)) for _ in range(n)]
    t5 = time.perf_counter()
    lexical_features(prompts, texts[:n], texts[n:])
    t6 = time.perf_counter()
    assert mask.sum() == round(0.25 * n) and isinstance(prob.features, Features)
    print("| step | seconds |")
    print("|---|---:|")
    print(f"| binary design (fit + transform, {x.shape[1]} features) | {t1 - t0:.2f} |")
    print(f"| PPM, cheap fit (one ridge solve) | {t2 - t1:.3f} |")
    print(f"| plan at 25% | {t3 - t2:.3f} |")
    print(f"| **design + fit + plan** | **{t3 - t0:.2f}** |")
    print(f"| PPM, HyPER-style fit on 200 simulated mixes (cheap outcome, no reward model) | {t4 - t3:.2f} |")
    print(f"| lexical features of {n:,} pairs (texts of 5-200 words) | {t6 - t5:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--plot", type=Path, default=Path("route-curve.png"))
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    llmfao_curve(args.seeds, args.plot)
    synthetic_table()
    timing(args.n)


if __name__ == "__main__":
    main()
