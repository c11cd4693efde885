"""Leaderboard benchmark: prefkit vs arena-rank, FastChat (sklearn and scipy styles), choix and evalica.

One command, every tool measured in the same run, each in its own subprocess (so peak memory is its own):

    .venv/bin/python benchmarks/bench_rank.py            # full: 200k battles x 50 models, 10M x 200 Parquet
    .venv/bin/python benchmarks/bench_rank.py --quick    # a couple of minutes: fewer peer rounds, 2M battles

Peers that need minutes for their bootstrap run fewer rounds and are extrapolated linearly to 100 (marked).
"Max diff" is the largest difference, in Elo points after centring, between a tool's ratings and prefkit's.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ELO = 400 / math.log(10)
HERE = Path(__file__).resolve()


def simulate(n_items: int, n_battles: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 0.8, n_items)
    a = rng.integers(0, n_items, n_battles)
    b = rng.integers(0, n_items - 1, n_battles)
    b = b + (b >= a)
    p = 1 / (1 + np.exp(-(theta[a] - theta[b])))
    out = np.where(rng.random(n_battles) < p, 0, 1)
    out = np.where(rng.random(n_battles) < 0.15, 2, out)
    return {
        "a": a.astype(np.int32),
        "b": b.astype(np.int32),
        "out": out.astype(np.int8),
        "n": np.array(n_items),
    }


def _frame(d):
    import pandas as pd

    names = np.array([f"model-{k:03d}" for k in range(int(d["n"]))])
    return pd.DataFrame(
        {
            "model_a": names[d["a"]],
            "model_b": names[d["b"]],
            "winner": np.array(["model_a", "model_b", "tie"])[d["out"]],
        }
    ), names


# ----------------------------------------------------------------------------------------------- tools
def tool_prefkit(d, rounds):
    from prefkit.ranking.bt import bootstrap_pairs, fit_bt
    from prefkit.ranking.counts import count_pairwise

    t = time.perf_counter()
    table = count_pairwise(d["a"], d["b"], d["out"], n_items=int(d["n"]))
    fit = fit_bt(table)
    t_fit = time.perf_counter() - t
    bootstrap_pairs(table, fit, rounds=rounds, rng=np.random.default_rng(0))
    return {
        "fit": t_fit,
        "total": time.perf_counter() - t,
        "rounds": rounds,
        "ratings": (ELO * fit.theta).tolist(),
    }


def tool_fastchat_sklearn(d, rounds):
    sys.path.insert(0, str(HERE.parents[1] / "tests" / "ranking"))
    from fastchat_oracle import compute_mle_elo

    df, names = _frame(d)
    t = time.perf_counter()
    r = compute_mle_elo(df).reindex(names).to_numpy()
    t_fit = time.perf_counter() - t
    rng = np.random.default_rng(0)
    for _ in range(rounds):
        compute_mle_elo(df.iloc[rng.integers(0, len(df), len(df))])
    return {"fit": t_fit, "total": time.perf_counter() - t, "rounds": rounds, "ratings": r.tolist()}


def _scipy_bt(df, names):
    """FastChat-style: pivot the battles into win tables, then L-BFGS on the logistic loss (scipy)."""
    import pandas as pd
    from scipy.optimize import minimize
    from scipy.special import expit

    idx = pd.Series(np.arange(len(names)), index=names)
    ia, ib = idx[df.model_a].to_numpy(), idx[df.model_b].to_numpy()
    w = df.winner.to_numpy()
    n = len(names)
    win = np.zeros((n, n))
    np.add.at(win, (ia[w == "model_a"], ib[w == "model_a"]), 2.0)
    np.add.at(win, (ib[w == "model_b"], ia[w == "model_b"]), 2.0)
    tie = np.zeros((n, n))
    np.add.at(tie, (ia[w == "tie"], ib[w == "tie"]), 1.0)
    win = win + tie + tie.T
    i, j = np.nonzero(win + win.T)
    y = win[i, j]

    def f(x):
        z = x[i] - x[j]
        p = expit(z)
        g = np.bincount(i, y * (1 - p), minlength=n) - np.bincount(j, y * (1 - p), minlength=n)
        return -np.sum(y * -np.logaddexp(0, -z)), -g

    res = minimize(f, np.zeros(n), jac=True, method="L-BFGS-B", options={"gtol": 1e-9, "ftol": 1e-14})
    return res.x


def tool_fastchat_scipy(d, rounds):
    df, names = _frame(d)
    t = time.perf_counter()
    x = _scipy_bt(df, names)
    t_fit = time.perf_counter() - t
    rng = np.random.default_rng(0)
    for _ in range(rounds):
        _scipy_bt(df.iloc[rng.integers(0, len(df), len(df))], names)
    return {"fit": t_fit, "total": time.perf_counter() - t, "rounds": rounds, "ratings": (ELO * x).tolist()}


def tool_arena_rank(d, rounds):
    import pandas as pd
    from arena_rank.models.bradley_terry import BradleyTerry
    from arena_rank.utils.data_utils import PairDataset

    df, names = _frame(d)
    t = time.perf_counter()
    ds = PairDataset.from_pandas(df)
    model = BradleyTerry(n_competitors=len(ds.competitors))
    res = model.compute_ratings_and_cis(ds)
    t_fit = time.perf_counter() - t
    # arena-rank's own bootstrap forks a multiprocessing pool after JAX has started threads, which hangs here;
    # run its per-round worker sequentially instead (the same work per round).
    import jax.numpy as jnp
    from arena_rank.models.bradley_terry import fit_single_bootstrap_sample

    counts = np.asarray(ds.counts)
    boot = np.random.default_rng(0).multinomial(int(counts.sum()), counts / counts.sum(), size=rounds)
    for r in range(rounds):
        fit_single_bootstrap_sample(jnp.asarray(boot[r], dtype=jnp.float64), model, ds)
    r = pd.Series(np.asarray(res["ratings"]), index=ds.competitors).reindex(names).to_numpy()
    return {"fit": t_fit, "total": time.perf_counter() - t, "rounds": rounds, "ratings": r.tolist()}


def tool_choix(d, rounds):
    import choix

    from prefkit.ranking.counts import count_pairwise

    m = count_pairwise(d["a"], d["b"], d["out"], n_items=int(d["n"])).matrix()
    t = time.perf_counter()
    x = choix.lsr_pairwise_dense(m)  # one LSR step, as in the measurement
    t_fit = time.perf_counter() - t
    x2 = choix.ilsr_pairwise_dense(m, tol=1e-10)
    return {
        "fit": t_fit,
        "total": t_fit,
        "rounds": 0,
        "ratings": (ELO * x2).tolist(),
        "note": f"lsr 1 step; ilsr converged max diff uses ilsr ({np.ptp(x - x2):.2g} logit apart)",
    }


def tool_evalica(d, rounds):
    import evalica

    df, names = _frame(d)
    W = {"model_a": evalica.Winner.X, "model_b": evalica.Winner.Y, "tie": evalica.Winner.Draw}
    t = time.perf_counter()
    res = evalica.bradley_terry(
        df.model_a.tolist(), df.model_b.tolist(), df.winner.map(W).tolist(), tolerance=1e-12, limit=10000
    )
    t_fit = time.perf_counter() - t
    r = np.log(res.scores.reindex(names).to_numpy())
    return {"fit": t_fit, "total": t_fit, "rounds": 0, "ratings": (ELO * r).tolist()}


def tool_prefkit_parquet(path, rounds):
    from prefkit.ranking.leaderboard import build_leaderboard
    from prefkit.storage.arena_scan import scan_counts

    t = time.perf_counter()
    table = scan_counts(path)
    t_scan = time.perf_counter() - t
    lb = build_leaderboard(table, ci="sandwich")
    t_sandwich = time.perf_counter() - t
    lb = build_leaderboard(table, ci="bootstrap", rounds=rounds)
    return {
        "fit": t_scan,
        "sandwich": t_sandwich,
        "total": time.perf_counter() - t,
        "rounds": rounds,
        "ratings": (lb.rating - 1000).tolist(),
    }


TOOLS = {
    f.__name__.removeprefix("tool_"): f
    for f in (
        tool_prefkit,
        tool_fastchat_sklearn,
        tool_fastchat_scipy,
        tool_arena_rank,
        tool_choix,
        tool_evalica,
        tool_prefkit_parquet,
    )
}


def child(tool: str, data: str, rounds: int) -> None:
    arg = data if tool == "prefkit_parquet" else dict(np.load(data))
    out = TOOLS[tool](arg, rounds)
    out["maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["maxrss_children_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print("RESULT " + json.dumps(out))


def run_child(tool: str, data: str, rounds: int) -> dict:
    proc = subprocess.run(
        [sys.executable, str(HERE), "--child", tool, "--data", data, "--rounds", str(rounds)],
        capture_output=True,
        text=True,
    )
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not line:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(line[-1][7:])


def write_parquet(n_items: int, n_battles: int, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = pa.array([f"model-{k:03d}" for k in range(n_items)])
    writer = None
    step = 2_000_000
    for start in range(0, n_battles, step):
        d = simulate(n_items, min(step, n_battles - start), seed=start + 1)
        tbl = pa.table(
            {
                "model_a": pa.DictionaryArray.from_arrays(pa.array(d["a"]), names),
                "model_b": pa.DictionaryArray.from_arrays(pa.array(d["b"]), names),
                "winner": pa.DictionaryArray.from_arrays(
                    pa.array(d["out"].astype(np.int32)), pa.array(["model_a", "model_b", "tie"])
                ),
            }
        )
        writer = writer or pq.ParquetWriter(path, tbl.schema)
        writer.write_table(tbl)
    assert writer is not None
    writer.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer peer rounds and a 2M-battle Parquet file")
    ap.add_argument("--skip-big", action="store_true", help="skip the big Parquet scenario")
    ap.add_argument("--child")
    ap.add_argument("--data")
    ap.add_argument("--rounds", type=int, default=0)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.data, args.rounds)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench_rank_"))
    data = tmp / "small.npz"
    np.savez(data, **simulate(50, 200_000, seed=0))
    peer_rounds = {
        "fastchat_sklearn": 3 if args.quick else 10,
        "fastchat_scipy": 20 if args.quick else 100,
        "arena_rank": 4 if args.quick else 10,
    }
    plan = [
        ("prefkit", 1000),
        ("fastchat_scipy", peer_rounds["fastchat_scipy"]),
        ("fastchat_sklearn", peer_rounds["fastchat_sklearn"]),
        ("arena_rank", peer_rounds["arena_rank"]),
        ("choix", 0),
        ("evalica", 0),
    ]
    results = {}
    for tool, rounds in plan:
        print(f"running {tool} ...", file=sys.stderr, flush=True)
        results[tool] = run_child(tool, str(data), rounds)
    ref = np.asarray(results["prefkit"]["ratings"])
    ref = ref - ref.mean()
    print("\n## 50 models, 200,000 battles (Bradley-Terry, ties half)\n")
    print("| tool | fit s | bootstrap | total s | 100 rounds s (est.) | peak MiB | max diff vs prefkit |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for tool, _ in plan:
        r = results[tool]
        if "error" in r:
            print(f"| {tool} | error: {r['error']} | | | | | |")
            continue
        x = np.asarray(r["ratings"])
        diff = np.max(np.abs((x - x.mean()) - ref))
        boot = r["total"] - r["fit"]
        per100 = f"{boot / r['rounds'] * 100:.2f}" if r["rounds"] else "-"
        extrap = " (extrapolated)" if r["rounds"] and r["rounds"] < 100 else ""
        peak = max(r["maxrss_mib"], r["maxrss_children_mib"])
        print(
            f"| {tool} | {r['fit']:.3f} | {r['rounds']} rounds{extrap} | {r['total']:.2f} | {per100} | "
            f"{peak:.0f} | {diff:.4f} |"
        )
    if args.skip_big:
        return
    n_big = 2_000_000 if args.quick else 10_000_000
    pq_path = tmp / "big.parquet"
    print(f"writing {n_big:,} battles to Parquet ...", file=sys.stderr, flush=True)
    write_parquet(200, n_big, pq_path)
    r = run_child("prefkit_parquet", str(pq_path), 1000)
    print(f"\n## 200 models, {n_big:,} battles from Parquet ({pq_path.stat().st_size / 2**20:.0f} MiB)\n")
    if "error" in r:
        print(f"error: {r['error']}")
        return
    print("| step | cumulative s |")
    print("|---|---:|")
    print(f"| DuckDB scan to count table | {r['fit']:.2f} |")
    print(f"| + fit and sandwich intervals | {r['sandwich']:.2f} |")
    print(f"| + fit and 1,000 bootstrap rounds | {r['total']:.2f} |")
    print(f"\npeak memory: {max(r['maxrss_mib'], r['maxrss_children_mib']):.0f} MiB")


if __name__ == "__main__":
    main()
