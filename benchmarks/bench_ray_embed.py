"""Embedding throughput on Ray (1 and 2 workers) beside the local encoder, on the same texts, and Ray's fixed
start-up cost (a head node started, the driver connected, the workers created and their models loaded).

    .venv/bin/python benchmarks/bench_ray_embed.py              # 20,000 texts
    .venv/bin/python benchmarks/bench_ray_embed.py --texts 4000

Ray must bind to 127.0.0.1 only, so the script re-runs itself inside a private network namespace
(``unshare -n sh -c 'ip link set lo up; ...'``) when it is not in one already. The texts are the responses of
hh-rlhf harmless-base-test (shared data), repeated with a numbered suffix when more are asked for (each text
distinct, so nothing is deduplicated or cached); the encoder is the packaged all-MiniLM-L6-v2 at 256 tokens,
one torch thread per Ray worker.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _texts(n: int) -> list[str]:
    data = Path(os.environ.get("PREFKIT_SHARED_DATA", ROOT.parent / "shared" / "data")) / "hh-rlhf"
    src = data / "harmless-base-test.jsonl.gz"
    base: list[str] = []
    if src.exists():
        with gzip.open(src, "rt", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                for k in ("chosen", "rejected"):
                    base.append(row[k].rsplit("\n\nAssistant:", 1)[-1].strip() or row[k][-300:])
    else:
        pairs = ROOT / "src" / "prefkit" / "examples" / "reward-pairs.jsonl"
        base = [json.loads(x)[k] for x in pairs.read_text().splitlines() for k in ("chosen", "rejected")]
    base = list(dict.fromkeys(t for t in base if t))
    return [base[i % len(base)] + ("" if i < len(base) else f" ({i // len(base)})") for i in range(n)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=20_000)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the Ray head node")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from prefkit.storage.engine import loopback_only, reexec_in_private_network

    if not loopback_only():  # Ray only on 127.0.0.1: re-run inside a private network namespace
        reexec_in_private_network([sys.executable, *sys.argv])
    from prefkit.reward.encoders import EncoderSpec, make_encoder
    from prefkit.storage.engine import connect_ray
    from prefkit.storage.engine.maps import RayEncoder

    texts = _texts(args.texts)
    spec = EncoderSpec()
    rows: list[tuple[str, int, float, float]] = []

    # local: the encoder in this process (1 and 2 torch threads), model load timed apart
    for threads in (1, 2):
        enc = make_encoder(spec, num_threads=threads)
        t0 = time.perf_counter()
        enc.encode(["warm up"])
        load = time.perf_counter() - t0
        t0 = time.perf_counter()
        enc.encode(texts)
        rows.append(
            (f"local ({threads} torch thread{'s' * (threads > 1)})", threads, load, time.perf_counter() - t0)
        )
        del enc

    # ray: a head node of --cpus CPUs on 127.0.0.1, this process its driver
    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    port = _free_port()
    src = str(ROOT / "src")  # the workers import this checkout's prefkit
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "PYTHONPATH": path}
    os.environ.update({"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"})
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    log = open(tmp / "head.log", "w")  # noqa: SIM115 - closed below
    t0 = time.perf_counter()
    head = subprocess.Popen(
        [ray_bin, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", f"--num-cpus={args.cpus}",
         "--include-dashboard=false", f"--temp-dir={tmp}", "--block", "--disable-usage-stats"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        ray = None
        deadline = time.monotonic() + 120
        while ray is None and time.monotonic() < deadline:
            try:
                ray = connect_ray(f"127.0.0.1:{port}", timeout_s=2)
            except Exception:  # noqa: BLE001 - the head is still starting
                time.sleep(0.5)
        if ray is None:
            raise SystemExit(f"the Ray head did not come up; see {tmp / 'head.log'}")
        cluster_s = time.perf_counter() - t0
        for workers in (1, 2):
            enc = RayEncoder(ray, spec, workers=workers, threads=1)
            enc.start()
            t0 = time.perf_counter()
            enc.encode(texts)
            rows.append((f"ray ({workers} worker{'s' * (workers > 1)}, 1 thread each)", workers, enc.startup_seconds,
                         time.perf_counter() - t0))  # fmt: skip
            enc.close()
        ray.shutdown()
    finally:
        for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(head.pid, sig)
            try:
                head.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)

    n = len(texts)
    print(f"\n{n} texts, all-MiniLM-L6-v2 (256 tokens), {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; Ray head started and driver connected in {cluster_s:.1f} s\n")  # fmt: skip
    print(
        "| engine | threads / workers | start-up s (workers + model load) | encode s | texts/s | texts/s per thread or worker |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, k, start, secs in rows:
        print(f"| {name} | {k} | {start:.1f} | {secs:.1f} | {n / secs:.0f} | {n / secs / k:.0f} |")


if __name__ == "__main__":
    main()
