"""Web service load benchmark: acknowledged votes per second, p50/p99 latency and lost votes, over loopback.

Starts ``prefkit serve`` as a real server process, creates a campaign, then a closed-loop load generator (a separate
process: raw asyncio sockets with keep-alive, one connection per simulated annotator) submits judgments for a fixed
time. Afterwards every acknowledged (201) vote is looked up in the SQLite file: ``lost`` must be 0. Beside it, the
raw SQLite commit rate of this machine (one INSERT + COMMIT per transaction, same pragmas), the physical ceiling
of durable one-at-a-time writes that group commit goes beyond.

Usage: python benchmarks/bench_service.py [--seconds 10] [--clients 64] [--synchronous FULL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ADMIN = "bench-admin-token"


def raw_commit_rate(path: Path, synchronous: str, seconds: float = 2.0) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, task INTEGER, token INTEGER, answer TEXT, UNIQUE(task, token))"
    )
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO t(task, token, answer) VALUES (?, ?, ?)", (n, 1, '{"overall": {"winner": 0}}')
        )
        conn.execute("COMMIT")
        n += 1
    rate = n / (time.perf_counter() - t0)
    conn.close()
    return rate


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc; nan elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _client(
    port: int, token: str, tasks: list[int], deadline: float, lat: list[float], acked: list[tuple[str, int]]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for tid in tasks:
        if time.perf_counter() > deadline:
            break
        body = json.dumps(
            {"campaign": "bench", "task_id": tid, "answer": {"overall": {"winner": tid % 2}}}
        ).encode()
        req = (
            f"POST /api/v1/judgments HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        t0 = time.perf_counter()
        writer.write(req)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        lat.append(time.perf_counter() - t0)
        if status == 201:
            acked.append((token, tid))
    writer.close()


def _load(port: int, work: list[tuple[str, list[int]]], seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    async def main() -> tuple[list[float], list[tuple[str, int]], float]:
        lat: list[float] = []
        acked: list[tuple[str, int]] = []
        t0 = time.perf_counter()
        await asyncio.gather(*(_client(port, tok, tasks, t0 + seconds, lat, acked) for tok, tasks in work))
        return lat, acked, time.perf_counter() - t0

    out.put(asyncio.run(main()))


def run(seconds: float, clients: int, synchronous: str, n_tasks: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="prefkit-bench-"))
    ceiling = raw_commit_rate(tmp / "raw.db", synchronous)
    db = tmp / "bench.db"
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "prefkit.cli.main",
        "serve",
        "--db",
        str(db),
        "--port",
        str(port),
        "--admin-token",
        ADMIN,
        "--rate",
        "1000000",
        "--synchronous",
        synchronous,
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        h = {"Authorization": f"Bearer {ADMIN}"}
        rows = [
            {"id": f"q{i}", "context": f"question {i}", "candidates": [f"a{i}", f"b{i}"]}
            for i in range(n_tasks)
        ]
        httpx.post(
            url + "/api/v1/campaigns",
            json={"slug": "bench", "rows": rows, "overlap": clients},
            headers=h,
            timeout=120,
        ).raise_for_status()
        tokens = [
            httpx.post(
                url + "/api/v1/tokens",
                json={"annotator": f"c{i}", "kind": "model", "campaigns": ["bench"]},
                headers=h,
            ).json()["token"]
            for i in range(clients)
        ]
        with sqlite3.connect(db) as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM svc_tasks ORDER BY id")]
        work = [
            (tok, ids[(i * 997) % len(ids) :] + ids[: (i * 997) % len(ids)]) for i, tok in enumerate(tokens)
        ]
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        gen = ctx.Process(target=_load, args=(port, work, seconds, q))
        cpu0 = _cpu_seconds(proc.pid)
        gen.start()
        lat, acked, elapsed = q.get(timeout=seconds + 120)
        gen.join()
        server_cpu = _cpu_seconds(proc.pid) - cpu0
        with sqlite3.connect(db) as conn:
            stored = set(
                conn.execute(
                    "SELECT k.secret, a.task_id FROM svc_answers a JOIN svc_tokens k ON k.id = a.token_id"
                )
            )
        lost = sum(1 for a in acked if tuple(a) not in stored)
    finally:
        proc.kill()
        proc.wait()
    lat_ms = sorted(x * 1000 for x in lat)
    return {
        "clients": clients,
        "acked_per_s": len(acked) / elapsed,
        "p50_ms": lat_ms[len(lat_ms) // 2],
        "p99_ms": lat_ms[int(len(lat_ms) * 0.99)],
        "requests": len(lat),
        "acked": len(acked),
        "lost": lost,
        "sqlite_commits_per_s": ceiling,
        "server_cpu_ms_per_vote": 1000 * server_cpu / max(len(lat), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--synchronous", default="FULL")
    ap.add_argument("--tasks", type=int, default=5000)
    args = ap.parse_args()
    print(
        f"prefkit web service load test ({os.cpu_count()} CPUs, synchronous={args.synchronous}, {args.seconds:.0f} s per run)"
    )
    print(
        f"{'clients':>7} {'acked votes/s':>14} {'p50 ms':>8} {'p99 ms':>8} {'acked':>8} {'lost':>5} {'raw SQLite commits/s':>21} {'server CPU ms/vote':>19}"
    )
    for c in args.clients:
        r = run(args.seconds, c, args.synchronous, args.tasks)
        print(
            f"{c:>7} {r['acked_per_s']:>14.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['acked']:>8} {r['lost']:>5} {r['sqlite_commits_per_s']:>21.0f} {r['server_cpu_ms_per_vote']:>19.2f}"
        )


if __name__ == "__main__":
    main()
