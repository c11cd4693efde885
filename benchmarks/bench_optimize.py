"""Training-row building benchmark: 1,000,000 DPO rows from a ranked prefkit JSONL file, streamed.

Run: .venv/bin/python benchmarks/bench_optimize.py [--rows 1000000] [--k 4]

Writes a ranked file (one context record, K item records with their texts and one ranking per prompt,
interleaved as a streaming producer writes them), then builds all-pairs rows (K(K-1)/2 per prompt) with
``prefkit.optimize.build`` (``release_texts=True``, i.e. ``--low-memory``: each response is in one
ranking) to JSONL and to Parquet, and does the same with a pandas peer (read_json of the whole
file, explode, self-merge, to_json / to_parquet). Each run is a separate process; peak RSS is that process's
max RSS (getrusage of the children). Row counts and the set of (prompt, chosen, rejected) are checked equal.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PREFKIT = """
import sys
from prefkit.optimize.build import build
from prefkit.optimize.recipes import RecipeOptions
res = build(sys.argv[1], sys.argv[2], RecipeOptions("all-pairs"), force=True, release_texts=True)
print(res.rows)
"""

PANDAS = """
import sys
import pandas as pd
df = pd.read_json(sys.argv[1], lines=True)
items = df[df.type == "item"].set_index("id")["text"]
ctx = df[df.type == "context"].set_index("id")["text"]
rk = df[df.type == "ranking"][["ranking", "context"]].reset_index(drop=True)
rk["rid"] = rk.index
long = rk.explode("ranking")
long["pos"] = long.groupby("rid").cumcount()
pairs = long.merge(long, on=["rid", "context"], suffixes=("_c", "_r"))
pairs = pairs[pairs.pos_c < pairs.pos_r]
out = pd.DataFrame({
    "prompt": ctx.reindex(pairs.context).to_numpy(),
    "chosen": items.reindex(pairs.ranking_c).to_numpy(),
    "rejected": items.reindex(pairs.ranking_r).to_numpy(),
    "gap": (pairs.pos_r - pairs.pos_c).astype(float).to_numpy(),
})
if sys.argv[2].endswith(".parquet"):
    out.to_parquet(sys.argv[2], index=False)
else:
    out.to_json(sys.argv[2], orient="records", lines=True, force_ascii=False)
print(len(out))
"""


def make_file(path: Path, n_prompts: int, k: int) -> None:
    with open(path, "w") as f:
        for q in range(n_prompts):
            f.write(
                json.dumps(
                    {"type": "context", "id": f"q{q}", "text": f"Prompt number {q}: explain topic {q % 97}."}
                )
                + "\n"
            )
            ids = [f"q{q}r{i}" for i in range(k)]
            for i, ident in enumerate(ids):
                f.write(
                    json.dumps(
                        {
                            "type": "item",
                            "id": ident,
                            "text": f"Response {i} to prompt {q}, " + "words " * (5 + i),
                        }
                    )
                    + "\n"
                )
            f.write(json.dumps({"type": "ranking", "ranking": ids, "context": f"q{q}"}) + "\n")


def run(code: str, src: Path, out: Path) -> tuple[float, float, int]:
    """Wall time, this process's own peak RSS (os.wait4) and the row count it printed."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(src), str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stdout, stderr = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    if status:
        raise SystemExit(stderr.decode())
    return wall, usage.ru_maxrss / 1024, int(stdout.decode().strip().splitlines()[-1])


def _key_set(path: Path) -> set[tuple[str, str, str]]:
    import pyarrow.parquet as pq

    if path.suffix == ".parquet":
        t = pq.read_table(path, columns=["prompt", "chosen", "rejected"]).to_pydict()
        return set(zip(t["prompt"], t["chosen"], t["rejected"], strict=True))
    with open(path) as f:
        return {(r["prompt"], r["chosen"], r["rejected"]) for r in map(json.loads, f)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--check", action="store_true", help="compare the row sets of prefkit and pandas")
    a = ap.parse_args()
    per = a.k * (a.k - 1) // 2
    n_prompts = -(-a.rows // per)
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "ranked.jsonl"
        make_file(src, n_prompts, a.k)
        mib = os.path.getsize(src) / 2**20
        print(f"{n_prompts:,} prompts x K={a.k} -> {n_prompts * per:,} all-pairs rows; input {mib:.0f} MiB\n")
        print("| tool | output | rows | wall s | rows/s | peak RSS MiB |")
        print("|---|---|---:|---:|---:|---:|")
        tools = [("prefkit optimize build", PREFKIT)] + ([] if a.no_peer else [("pandas peer", PANDAS)])
        outs: dict[str, Path] = {}
        for name, code in tools:
            for ext in ("jsonl", "parquet"):
                out = Path(d) / f"{name.split()[0]}.{ext}"
                wall, peak, rows = run(code, src, out)
                outs[f"{name}.{ext}"] = out
                print(
                    f"| {name} | {ext} | {rows:,} | {wall:.1f} | {rows / wall:,.0f} | {peak:,.0f} |",
                    flush=True,
                )
        if a.check and not a.no_peer:
            same = _key_set(outs["prefkit optimize build.parquet"]) == _key_set(outs["pandas peer.parquet"])
            print(f"\nprefkit and pandas rows identical: {same}")


if __name__ == "__main__":
    main()
