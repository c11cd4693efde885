"""The arena reader on one log in three containers: DuckDB fast path vs row reader vs a bare DuckDB query.

    .venv/bin/python benchmarks/bench_reader.py              # 1,000,000 battles, 100 models
    .venv/bin/python benchmarks/bench_reader.py --rows 200000

For each container (Parquet, CSV, JSON lines) it times, each in its own subprocess:

* ``fast path``: :func:`prefkit.storage.arena_scan.scan_counts` (all of the reader's checks, in SQL);
* ``row reader``: what ``prefkit rank`` does without DuckDB (``prefkit.data.io.read`` + the count table);
* ``bare DuckDB``: one ``GROUP BY model_a, model_b, winner`` with no checks at all (the old lenient scan's
  cost, a floor for the fast path).

All three must give the same count table; the script checks it.
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

HERE = Path(__file__).resolve()


def write_logs(n: int, n_items: int, tmp: Path) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    names = np.array([f"model-{k:03d}" for k in range(n_items)], dtype=object)
    a = rng.integers(0, n_items, n)
    b = (a + rng.integers(1, n_items, n)) % n_items
    winners = np.array(["model_a", "model_b", "tie", "tie (bothbad)"], dtype=object)
    tbl = pa.table(
        {
            "model_a": names[a],
            "model_b": names[b],
            "winner": winners[rng.integers(0, 4, n)],
            "tstamp": 1.7e9 + np.arange(n, dtype=np.float64),
            "weight": rng.choice([0.5, 1.0, 2.0], n),
        }
    )
    paths = {"parquet": tmp / "b.parquet", "csv": tmp / "b.csv", "jsonl": tmp / "b.jsonl"}
    pq.write_table(tbl, paths["parquet"])
    pcsv.write_csv(tbl, paths["csv"], pcsv.WriteOptions(quoting_style="none"))
    with paths["jsonl"].open("w") as fh:
        for rec in tbl.to_pylist():
            fh.write(json.dumps(rec) + "\n")
    return paths


def run_tool(tool: str, path: str) -> dict:
    import duckdb

    from prefkit.data import io
    from prefkit.ranking.counts import CountTable, count_table_from_cells
    from prefkit.ranking.leaderboard_data import sorted_battles
    from prefkit.storage import arena_scan

    t = time.perf_counter()  # imports done: time the reading only
    if tool == "fast":
        table: CountTable = arena_scan.scan_counts(path)
    elif tool == "rows":
        ds = io.read(path, "arena")
        pw = ds.pairwise
        table = sorted_battles(pw.a, pw.b, pw.outcome, ds.items.names, pw.weight).counts()
    else:
        src = {
            "parquet": f"read_parquet('{path}')",
            "csv": f"read_csv('{path}')",
            "jsonl": f"read_json('{path}', format='newline_delimited')",
        }[Path(path).suffix.lstrip(".")]
        rows = duckdb.sql(f"SELECT model_a, model_b, winner, sum(weight) FROM {src} GROUP BY ALL").fetchall()
        names = sorted({r[0] for r in rows} | {r[1] for r in rows})
        code = {n: k for k, n in enumerate(names)}
        cell = {"model_a": 0, "model_b": 1, "tie": 2, "tie (bothbad)": 2}
        table = count_table_from_cells(
            np.array([code[r[0]] for r in rows]),
            np.array([code[r[1]] for r in rows]),
            np.array([cell[r[2]] for r in rows]),
            np.array([r[3] for r in rows], dtype=float),
            len(names),
            names,
        )
    seconds = time.perf_counter() - t
    return {
        "seconds": seconds,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cells": table.cells.round(6).tolist(),
        "names": list(table.names),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(run_tool(*args.child)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench_reader_"))
    print(f"writing {args.rows:,} battles ...", file=sys.stderr, flush=True)
    paths = write_logs(args.rows, 100, tmp)
    print(f"\n## {args.rows:,} battles, 100 models (with tstamp and weight columns)\n")
    print("| container | size MiB | fast path s | row reader s | bare DuckDB s (no checks) | same table |")
    print("|---|---:|---:|---:|---:|---|")
    for container, path in paths.items():
        res = {}
        for tool in ("fast", "rows", "bare"):
            print(f"{container}: {tool} ...", file=sys.stderr, flush=True)
            proc = subprocess.run(
                [sys.executable, str(HERE), "--child", tool, str(path)], capture_output=True, text=True
            )
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not line:
                raise SystemExit(f"{tool} on {container} failed: {proc.stderr.strip()[-500:]}")
            res[tool] = json.loads(line[-1][7:])
        same = all(
            res[t]["cells"] == res["fast"]["cells"] and res[t]["names"] == res["fast"]["names"] for t in res
        )
        size = path.stat().st_size / 2**20
        print(
            f"| {container} | {size:.0f} | {res['fast']['seconds']:.2f} | {res['rows']['seconds']:.2f} | "
            f"{res['bare']['seconds']:.2f} | {'yes' if same else 'NO'} |"
        )


if __name__ == "__main__":
    main()
