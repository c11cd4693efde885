"""`prefkit import` / `prefkit export` on a large arena battle log, beside peers, in one run.

Generates an arena Parquet log (default 1 million battles among 100 models, with question_id, judge and
tstamp columns, no ids: every battle is identified by its content) in a temporary directory, then runs,
each in its own subprocess:

* ``prefkit import FILE --db NEW.db`` (read + store, one transaction, idempotency keys),
* the same command again (every battle already present: nothing stored),
* ``prefkit export --db NEW.db OUT.parquet --to arena``,
* sqlite3 ``executemany`` of the raw rows into a plain table (no keys, no dedup: the floor for SQLite),
* pandas ``read_parquet`` + ``DataFrame.to_sql`` into SQLite (no dedup),
* DuckDB ``CREATE TABLE AS SELECT * FROM 'FILE'`` (columnar engine; no dedup),

and prints a table of wall time, battles/s and peak RSS of each subprocess. Then the small-batch side of the
same write path (what the web service does): 1,000 appends of 2 votes each, one transaction per append, into a
store of 200,000 battles (median / p99 milliseconds per append).

    python benchmarks/bench_store.py                  # 1M battles
    python benchmarks/bench_store.py --rows 100000    # quicker
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

SQLITE = """
import sqlite3, sys, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
conn = sqlite3.connect(sys.argv[2], isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("CREATE TABLE battles (model_a TEXT, model_b TEXT, winner TEXT, question_id TEXT, judge TEXT, tstamp REAL)")
conn.execute("BEGIN")
conn.executemany("INSERT INTO battles VALUES (?, ?, ?, ?, ?, ?)", zip(*(t.column(c).to_pylist() for c in t.column_names)))
conn.execute("COMMIT")
print(conn.execute("SELECT count(*) FROM battles").fetchone()[0])
"""

PANDAS = """
import sqlite3, sys, pandas as pd
df = pd.read_parquet(sys.argv[1])
conn = sqlite3.connect(sys.argv[2])
df.to_sql("battles", conn, index=False, chunksize=100_000)
conn.commit()
print(conn.execute("SELECT count(*) FROM battles").fetchone()[0])
"""

DUCKDB = """
import sys, duckdb
con = duckdb.connect(sys.argv[2])
con.execute("SET enable_progress_bar = false")
con.execute(f"CREATE TABLE battles AS SELECT * FROM '{sys.argv[1]}'")
print(con.execute("SELECT count(*) FROM battles").fetchone()[0])
"""


def generate(path: Path, rows: int, models: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    names = np.array([f"model-{i:03d}" for i in range(models)], dtype=object)
    a = rng.integers(0, models, rows)
    b = (a + rng.integers(1, models, rows)) % models
    table = pa.table(
        {
            "model_a": pa.array(names[a], pa.string()),
            "model_b": pa.array(names[b], pa.string()),
            "winner": pa.array(WINNERS[rng.integers(0, 4, rows)], pa.string()),
            "question_id": pa.array([f"q{i}" for i in rng.integers(0, 20_000, rows)], pa.string()),
            "judge": pa.array([f"voter-{i}" for i in rng.integers(0, 50_000, rows)], pa.string()),
            "tstamp": pa.array(1.7e9 + np.sort(rng.random(rows)) * 3e7, pa.float64()),
        }
    )
    pq.write_table(table, path, row_group_size=262_144)


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB of the child, stdout)."""
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr}")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, rss, res.stdout


def small_appends(tmp: Path, n_appends: int = 1000) -> tuple[float, float]:
    """(median, p99) milliseconds of one append_dataset of 2 votes (with ids), each in its own transaction."""
    from prefkit.data.index import ItemIndex
    from prefkit.data.model import Dataset, PairwiseTable
    from prefkit.storage.store import ProjectStore, append_dataset, new_import

    rng = np.random.default_rng(1)
    n = 200_000
    with ProjectStore(tmp / "svc.db") as store:
        a = rng.integers(0, 100, n)
        b = (a + rng.integers(1, 100, n)) % 100
        store.import_dataset(
            Dataset(
                items=ItemIndex(f"model-{i:03d}" for i in range(100)),
                annotators=ItemIndex(f"voter-{i}" for i in range(20_000)),
                pairwise=PairwiseTable.build(
                    a, b, rng.integers(0, 3, n), annotator=rng.integers(0, 20_000, n)
                ),
            )
        )
        conn = store.conn
        conn.execute("BEGIN IMMEDIATE")
        imp = new_import(conn, source="service")
        conn.execute("COMMIT")
        times = []
        for k in range(n_appends):
            items = ItemIndex(f"model-{int(i):03d}" for i in rng.choice(100, 3, replace=False))
            voter = f"voter-{int(rng.integers(0, 30_000))}"
            ds = Dataset(
                items=items,
                annotators=ItemIndex([voter]),
                annotator_kind={voter: "human"},
                pairwise=PairwiseTable.build(
                    [0, 1], [1, 2], [0, 1], annotator=[0, 0], ids=[f"v{k}a", f"v{k}b"]
                ),
            )
            t0 = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            append_dataset(conn, ds, import_id=imp, seq0=2 * k)
            conn.execute("COMMIT")
            times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1000
    return float(np.median(ms)), float(np.percentile(ms, 99))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--models", type=int, default=100)
    args = ap.parse_args()
    exe = str(Path(sys.executable).with_name("prefkit"))
    py = sys.executable
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        log = tmp / "battles.parquet"
        generate(log, args.rows, args.models)
        db = tmp / "project.db"
        results: list[tuple[str, float, float, str]] = []

        def row(name: str, cmd: list[str], note: str = "") -> str:
            wall, rss, out = timed(cmd)
            results.append((name, wall, rss, note))
            return out

        out = row(
            "prefkit import (new store)", [exe, "import", str(log), "--db", str(db), "--format", "json"]
        )
        first = json.loads(out)
        out = row(
            "prefkit import (same file again)", [exe, "import", str(log), "--db", str(db), "--format", "json"]
        )
        again = json.loads(out)
        row("prefkit export --to arena (parquet)", [exe, "export", "--db", str(db), str(tmp / "out.parquet")])
        row(
            "sqlite3 executemany, plain table",
            [py, "-c", SQLITE, str(log), str(tmp / "raw.db")],
            "no keys, no dedup",
        )
        try:
            import pandas  # noqa: F401

            row("pandas read_parquet + to_sql", [py, "-c", PANDAS, str(log), str(tmp / "pd.db")], "no dedup")
        except ImportError:
            pass
        try:
            import duckdb  # noqa: F401

            row(
                "duckdb CREATE TABLE AS (parquet)",
                [py, "-c", DUCKDB, str(log), str(tmp / "d.duckdb")],
                "no dedup",
            )
        except ImportError:
            pass
        size = db.stat().st_size / 2**20
        median_ms, p99_ms = small_appends(tmp)
    print(f"arena log: {args.rows:,} battles, {args.models} models; store file {size:.0f} MiB")
    print(
        f"prefkit import: added {first['added']:,} (store phase {first['seconds']:.1f} s = "
        f"{args.rows / first['seconds']:,.0f} battles/s); again: added {again['added']:,}, "
        f"already present {again['duplicates']:,} (store phase {again['seconds']:.1f} s)"
    )
    print(f"{'method':40s} {'wall s':>8s} {'battles/s':>11s} {'peak MiB':>9s}  note")
    for name, wall, rss, note in results:
        print(f"{name:40s} {wall:8.2f} {args.rows / wall:11,.0f} {rss:9.0f}  {note}")
    print("(peak MiB is the running maximum over the child processes so far)")
    print(
        f"small appends (2 votes, one transaction each, store of 200k): median {median_ms:.2f} ms, p99 {p99_ms:.2f} ms"
    )


if __name__ == "__main__":
    main()
