"""Count-table reduction over Parquet shards: the local DuckDB scan beside Ray with 1 and 2 workers.

One command (it re-executes itself inside a private network namespace, ``unshare -n``, so every Ray process
binds to 127.0.0.1 only and the Ray clusters it starts are its own; it needs root or user namespaces):

    .venv/bin/python benchmarks/bench_ray_counts.py                     # 10M battles in 100 shards
    .venv/bin/python benchmarks/bench_ray_counts.py --battles 100000000 # the issue's scale (disk: ~2 GiB)

Rows: the local engine (``prefkit rank DIR``: each shard through the DuckDB scan, tables merged); the same
block reduction Ray runs (pyarrow, per row group) called in this process without Ray; and Ray with 1 and 2
worker CPUs (a fresh ``ray start --head --num-cpus=N`` cluster each, reached by address, as a user would). Every
engine must give the same count table (checked). Ray's overhead per shard is (Ray, 1 worker - the same
reduction without Ray) / shards; the fixed start-up cost is the time from ``ray start`` until this process is
connected, and a one-shard job on the warm cluster is the fixed cost of every job.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
LABELS = np.array(["model_a", "model_b", "tie", "tie (bothbad)"])


def write_shards(root: Path, battles: int, shards: int, models: int, seed: int = 0) -> Path:
    """``shards`` Parquet files of Bradley-Terry battles (dictionary-encoded names, a timestamp), reused if there."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = root / f"battles-{battles}-{shards}-{models}"
    if (d / "done").exists():
        return d
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 0.8, models)
    names = pa.array([f"model-{k:03d}" for k in range(models)])
    labels = pa.array(LABELS)
    per = battles // shards
    for s in range(shards):
        n = per + (1 if s < battles % shards else 0)
        a = rng.integers(0, models, n)
        b = rng.integers(0, models - 1, n)
        b = b + (b >= a)
        p = 1 / (1 + np.exp(-(theta[a] - theta[b])))
        out = np.where(rng.random(n) < p, 0, 1)
        u = rng.random(n)
        out = np.where(u < 0.15, 2 + (u < 0.03), out)
        t = pa.table(
            {
                "model_a": pa.DictionaryArray.from_arrays(pa.array(a, pa.int32()), names),
                "model_b": pa.DictionaryArray.from_arrays(pa.array(b, pa.int32()), names),
                "winner": pa.DictionaryArray.from_arrays(pa.array(out, pa.int32()), labels),
                "tstamp": rng.uniform(1.7e9, 1.8e9, n),
            }
        )
        pq.write_table(t, d / f"part-{s:05d}.parquet")
    (d / "done").write_text("")
    return d


def _start_cluster(cpus: int, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    temp = tmp / f"ray-{cpus}"
    temp.mkdir(exist_ok=True)
    log = open(temp / "head.log", "w")  # noqa: SIM115 - lives as long as the cluster
    proc = subprocess.Popen(
        [
            ray_bin,
            "start",
            "--head",
            f"--port={port}",
            f"--num-cpus={cpus}",
            "--node-ip-address=127.0.0.1",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
            "--block",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    return proc, f"127.0.0.1:{port}"


def _stop_cluster(proc: subprocess.Popen[bytes]) -> None:
    import contextlib
    import signal

    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 30)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_connect(address: str, deadline_s: float = 120) -> None:
    from prefkit.errors import EngineError
    from prefkit.storage.engine import connect_ray

    t0 = time.monotonic()
    while True:
        try:
            connect_ray(address, timeout_s=2)
            return
        except EngineError:
            if time.monotonic() - t0 > deadline_s:
                raise
            time.sleep(0.5)


def _same(x, y) -> bool:
    return x.names == y.names and np.array_equal(x.i, y.i) and np.allclose(x.cells, y.cells, rtol=1e-12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--battles", type=int, default=10_000_000, help="Battles in all (the issue: 100,000,000)."
    )
    ap.add_argument("--shards", type=int, default=100)
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--workers", default="1,2", help="Ray worker CPUs to measure, comma-separated.")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "prefkit-bench-ray")
    args = ap.parse_args()
    from prefkit.storage.engine import loopback_only, reexec_in_private_network

    if not loopback_only():  # Ray only on 127.0.0.1: re-run inside a private network namespace
        reexec_in_private_network([sys.executable, str(HERE), *sys.argv[1:]])
    os.environ["RAY_AUTH_MODE"] = (
        "disabled"  # no token file in the home folder (ray.init's default for new clusters)
    )

    from prefkit.storage import rank_input
    from prefkit.storage.engine import reduce

    t0 = time.perf_counter()
    d = write_shards(args.data, args.battles, args.shards, args.models)
    mib = sum(p.stat().st_size for p in d.glob("*.parquet")) / 2**20
    print(
        f"{args.battles:,} battles, {args.models} models, {args.shards} Parquet shards ({mib:.0f} MiB) in {d} "
        f"(ready in {time.perf_counter() - t0:.1f} s); {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    rows: list[tuple[str, float]] = []

    t0 = time.perf_counter()
    local = rank_input.from_shards(d)
    rows.append(("local: DuckDB scan per shard, tables merged", time.perf_counter() - t0))

    t0 = time.perf_counter()  # the reduction Ray's workers run, here, without Ray
    paths = [str(p) for p in sorted(d.glob("*.parquet"))]
    work = reduce.pieces(paths)
    parts: dict[str, reduce.Part] = {}
    for w in work:
        out = reduce.reduce_pieces({k: [v] for k, v in w.items()})
        import pickle

        new = pickle.loads(out["part"][0])  # noqa: S301 - our own output
        parts.setdefault(w["path"], reduce.Part()).add(new)
    bare = reduce.merge_count_tables([reduce.cells_counts(reduce.checked(parts[p])) for p in paths])  # type: ignore[arg-type]
    bare_s = time.perf_counter() - t0
    rows.append(("block reduction in this process (no Ray)", bare_s))
    assert _same(bare, local), "the block reduction differs from the local engine"

    tiny = write_shards(args.data, args.shards * 10, args.shards, args.models, seed=1)  # 10 battles a shard
    tiny_paths = [str(p) for p in sorted(tiny.glob("*.parquet"))]
    t0 = time.perf_counter()
    rank_input.from_shards(tiny)
    local_tiny = time.perf_counter() - t0
    startup: dict[int, float] = {}
    one_shard: dict[int, float] = {}
    per_shard: dict[int, float] = {}
    ray_s: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="prefkit-ray-") as tmp:
        for cpus in [int(x) for x in args.workers.split(",")]:
            t0 = time.perf_counter()
            proc, address = _start_cluster(cpus, Path(tmp))
            try:
                _wait_connect(address)
                startup[cpus] = time.perf_counter() - t0
                t0 = time.perf_counter()
                reduce.ray_counts(paths[0])  # first job: workers start, Ray Data warms up
                first = time.perf_counter() - t0
                t0 = time.perf_counter()
                reduce.ray_counts(tiny_paths[0])
                one_shard[cpus] = time.perf_counter() - t0
                t0 = time.perf_counter()
                reduce.ray_counts(tiny)
                per_shard[cpus] = (time.perf_counter() - t0 - one_shard[cpus]) / (len(tiny_paths) - 1)
                t0 = time.perf_counter()
                got = reduce.ray_counts(d)
                ray_s[cpus] = time.perf_counter() - t0
                assert _same(got, local), f"Ray with {cpus} workers differs from the local engine"
                rows.append((f"ray: {cpus} worker{'s' if cpus > 1 else ''} (warm cluster)", ray_s[cpus]))
                print(
                    f"  ray {cpus}: cluster up and connected {startup[cpus]:.1f} s, first one-shard job "
                    f"{first:.2f} s, warm one-shard job {one_shard[cpus]:.2f} s",
                    flush=True,
                )
            finally:
                import ray

                ray.shutdown()
                _stop_cluster(proc)

    base = rows[0][1]
    print()
    print("| engine | s | battles/s | vs local |")
    print("|---|---:|---:|---:|")
    for name, s in rows:
        print(f"| {name} | {s:.2f} | {args.battles / s / 1e6:.2f} M | {base / s:.2f}x |")
    print()
    if 1 in ray_s:
        per = (ray_s[1] - bare_s) / args.shards
        print(f"Ray overhead per shard, (1 worker - no Ray) / shards: {per * 1000:.1f} ms")
    for cpus in startup:
        print(
            f"{cpus} worker CPUs: cluster start + connect {startup[cpus]:.1f} s; a warm job on one tiny shard "
            f"{one_shard[cpus]:.2f} s; each further tiny shard {per_shard[cpus] * 1000:.1f} ms "
            f"(local engine: {local_tiny / len(tiny_paths) * 1000:.1f} ms a tiny shard)"
        )
    print("every engine gave the same count table (names, pairs, counts)")


if __name__ == "__main__":
    main()
