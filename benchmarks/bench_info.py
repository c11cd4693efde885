"""`prefkit info` on a large arena battle log: wall time and peak memory, beside peers, in one run.

Generates an arena Parquet file (default 10 million battles among 200 models, written in chunks) in a
temporary directory, then runs, each in its own subprocess:

* ``prefkit info FILE --format json`` (streams record batches; bounded memory),
* pandas: ``read_parquet`` of the whole file + ``value_counts`` / distinct pairs (loads everything),
* DuckDB SQL computing the same counts (streaming engine),

and prints a table of wall time and peak RSS (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of each subprocess).

    python benchmarks/bench_info.py                # 10M rows
    python benchmarks/bench_info.py --rows 1000000 # quicker
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

WINNERS = np.array(["model_a", "model_b", "tie", "tie (bothbad)"], dtype=object)

PANDAS = """
import sys, pandas as pd, numpy as np
df = pd.read_parquet(sys.argv[1], columns=["model_a", "model_b", "winner"])
w = df["winner"].value_counts()
items = pd.unique(pd.concat([df["model_a"], df["model_b"]]))
lo = np.minimum(df["model_a"].to_numpy(), df["model_b"].to_numpy())
hi = np.maximum(df["model_a"].to_numpy(), df["model_b"].to_numpy())
pairs = len(pd.MultiIndex.from_arrays([lo, hi]).unique())
print(len(df), len(items), int(w.get("tie", 0) + w.get("tie (bothbad)", 0)), pairs)
"""

DUCKDB = """
import sys, duckdb
q = f'''SELECT count(*),
  (SELECT count(*) FROM (SELECT model_a FROM '{sys.argv[1]}' UNION SELECT model_b FROM '{sys.argv[1]}')),
  count(*) FILTER (WHERE winner IN ('tie', 'tie (bothbad)')),
  (SELECT count(*) FROM (SELECT DISTINCT least(model_a, model_b), greatest(model_a, model_b) FROM '{sys.argv[1]}'))
FROM '{sys.argv[1]}' '''
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
print(*con.execute(q).fetchone())
"""


def generate(path: Path, rows: int, models: int, chunk: int = 1_000_000, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    names = np.array([f"model-{i:03d}" for i in range(models)], dtype=object)
    schema = pa.schema([("model_a", pa.string()), ("model_b", pa.string()), ("winner", pa.string())])
    with pq.ParquetWriter(path, schema) as writer:
        done = 0
        while done < rows:
            n = min(chunk, rows - done)
            a = rng.integers(0, models, n)
            b = (a + rng.integers(1, models, n)) % models
            w = rng.choice(4, n, p=[0.4, 0.4, 0.15, 0.05])
            writer.write_table(
                pa.table([pa.array(names[a]), pa.array(names[b]), pa.array(WINNERS[w])], schema=schema)
            )
            done += n


def measure(cmd: list[str]) -> dict:
    """Run ``cmd`` from a fresh wrapper process so that ru_maxrss is this command's alone."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", *cmd], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(cmd: list[str]) -> None:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB -> MiB on Linux
    print(
        json.dumps(
            {
                "wall_s": wall,
                "peak_rss_mib": rss,
                "rc": proc.returncode,
                "stdout": proc.stdout[-2000:],
                "stderr": proc.stderr[-500:],
            }
        )
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--models", type=int, default=200)
    ap.add_argument("--skip-pandas", action="store_true", help="skip the in-memory pandas peer")
    args = ap.parse_args()
    prefkit = str(Path(sys.executable).parent / "prefkit")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "battles.parquet"
        t0 = time.perf_counter()
        generate(path, args.rows, args.models)
        gen_s = time.perf_counter() - t0
        size_mib = path.stat().st_size / 2**20
        print(
            f"generated {args.rows:,} battles among {args.models} models: {size_mib:.0f} MiB Parquet "
            f"in {gen_s:.1f} s",
            flush=True,
        )
        runs = {"prefkit info --format json": [prefkit, "info", str(path), "--format", "json"]}
        if not args.skip_pandas:
            runs["pandas read_parquet + value_counts"] = [sys.executable, "-c", PANDAS, str(path)]
        runs["duckdb SQL (same counts)"] = [sys.executable, "-c", DUCKDB, str(path)]
        results = {}
        for name, cmd in runs.items():
            results[name] = r = measure(cmd)
            if r["rc"] != 0:
                print(f"{name} failed: {r['stderr']}", file=sys.stderr)
        info = json.loads(results["prefkit info --format json"]["stdout"])
        print(
            f"prefkit: judgments={info['judgments']:,} items={info['items']} ties={info['ties']:,} "
            f"distinct_pairs={info['distinct_pairs']:,} connected={info['connected']}"
        )
        for name in runs:
            if name.startswith("prefkit"):
                continue
            print(
                f"{name.split()[0]}: (rows, items, ties, distinct pairs) = {results[name]['stdout'].strip()}"
            )
        print()
        print(f"| tool ({args.rows:,} rows, {args.models} models) | wall (s) | peak RSS (MiB) |")
        print("|---|---:|---:|")
        for name, r in results.items():
            print(f"| {name} | {r['wall_s']:.1f} | {r['peak_rss_mib']:.0f} |")


if __name__ == "__main__":
    main()
