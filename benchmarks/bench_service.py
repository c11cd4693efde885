"""Web service load benchmark: acknowledged votes per second, p50/p99 latency and lost votes, over loopback.

Starts ``prefkit serve`` as a real server process, creates a campaign, then a closed-loop load generator (a separate
process: raw asyncio sockets with keep-alive, one connection per simulated annotator) submits judgments for a fixed
time. Afterwards every acknowledged (201) vote is looked up in the SQLite file: ``lost`` (not in the service's
answers) must be 0, and ``core miss`` (not among the core pairwise judgments, 2 s after the load) must be 0.
Beside it, the raw SQLite commit rate of this machine (one INSERT + COMMIT per transaction, same pragmas), the
physical ceiling of durable one-at-a-time writes that group commit goes beyond, the 1-minute load average
before the run (the machine may be shared) and the CPU used by the server and by the load generator.

Usage: python benchmarks/bench_service.py [--seconds 10] [--clients 16 32] [--repeat 3] [--synchronous FULL]
       [--mode judgments|arena|arena-next|compare]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
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
UNDO_S = 10.0  # answers reach the core tables after the undo window (Settings.undo_s)


def _h(token: str) -> str:
    """A token as the service stores it (SHA-256; older versions stored it in plain text: see ``secret``)."""
    return hashlib.sha256(token.encode()).hexdigest()


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


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: str, body: bytes = b""
) -> tuple[int, bytes]:
    writer.write(head.encode() + body)
    raw = await reader.readuntil(b"\r\n\r\n")
    status = int(raw.split(b" ", 2)[1])
    length = 0
    for line in raw.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return status, await reader.readexactly(length)


async def _client(
    port: int,
    token: str,
    tasks: list[int],
    deadline: float,
    lat: list[float],
    acked: list[tuple[str, int]],
    mode: str,
) -> None:
    """One annotator on one keep-alive connection: campaign judgments, or arena match + vote."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    auth = f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
    dealt: dict = {}
    for tid in tasks:
        if time.perf_counter() > deadline:
            break
        if mode.startswith("arena"):
            if mode == "arena" or "match" not in dealt:  # arena-next: the first match only; then each vote's reply
                _, match = await _request(
                    reader, writer, f"GET /api/v1/arenas/bench/match HTTP/1.1\r\n{auth}\r\n"
                )
                dealt = json.loads(match)
            if "match" not in dealt:  # refused (e.g. the per-token vote cap): say why instead of a KeyError
                raise SystemExit(f"GET match refused: {dealt}")
            vote = {"match": dealt["match"], "ranks": [tid % 2, 1 - tid % 2], "next": mode == "arena-next"}
            body = json.dumps(vote).encode()
            path = "/api/v1/arenas/bench/votes"
        else:
            body = json.dumps(
                {"campaign": "bench", "task_id": tid, "answer": {"overall": {"winner": tid % 2}}}
            ).encode()
            path = "/api/v1/judgments"
        head = f"POST {path} HTTP/1.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        t0 = time.perf_counter()
        status, reply = await _request(reader, writer, head, body)
        lat.append(time.perf_counter() - t0)
        if status == 201:
            acked.append((token, tid))
        if mode == "arena-next":
            dealt = json.loads(reply).get("next") or {}
    writer.close()


def _load(port: int, work: list[tuple[str, list[int]]], seconds: float, mode: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    async def main() -> tuple[list[float], list[tuple[str, int]], float, float]:
        lat: list[float] = []
        acked: list[tuple[str, int]] = []
        c0 = time.process_time()
        t0 = time.perf_counter()
        await asyncio.gather(
            *(_client(port, tok, tasks, t0 + seconds, lat, acked, mode) for tok, tasks in work)
        )
        return lat, acked, time.perf_counter() - t0, time.process_time() - c0

    out.put(asyncio.run(main()))


def run(seconds: float, clients: int, synchronous: str, n_tasks: int, mode: str) -> dict[str, float]:
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
        "--arena-cap",
        "100000000",
        "--synchronous",
        synchronous,
    ]
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 (closed in finally)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"}
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
        if mode.startswith("arena"):
            models = [f"model-{m}" for m in range(8)]
            prompts = [
                {"id": f"p{i}", "prompt": f"prompt {i}", "outputs": {m: f"{m} says {i}" for m in models}}
                for i in range(200)
            ]
            httpx.post(
                url + "/api/v1/arenas",
                json={"slug": "bench", "rows": prompts, "k": 2},
                headers=h,
                timeout=120,
            ).raise_for_status()
        else:
            httpx.post(
                url + "/api/v1/campaigns",
                json={"slug": "bench", "rows": rows, "overlap": clients},
                headers=h,
                timeout=120,
            ).raise_for_status()
        grant = {"arenas": ["bench"]} if mode.startswith("arena") else {"campaigns": ["bench"]}
        tokens = [
            httpx.post(
                url + "/api/v1/tokens", json={"annotator": f"c{i}", "kind": "model", **grant}, headers=h
            ).json()["token"]
            for i in range(clients)
        ]
        with sqlite3.connect(db) as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM svc_tasks ORDER BY id")] or list(range(100_000))
        work = [
            (tok, ids[(i * 997) % len(ids) :] + ids[: (i * 997) % len(ids)]) for i, tok in enumerate(tokens)
        ]
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        gen = ctx.Process(target=_load, args=(port, work, seconds, mode, q))
        load_avg = os.getloadavg()[0]
        cpu0 = _cpu_seconds(proc.pid)
        gen.start()
        lat, acked, elapsed, gen_cpu = q.get(timeout=seconds + 120)
        gen.join()
        server_cpu = _cpu_seconds(proc.pid) - cpu0
        time.sleep(
            2.0 + UNDO_S
        )  # the core tables follow the acknowledged answers once their undo window ends
        with sqlite3.connect(db) as conn:
            if mode.startswith("arena"):  # every dealt match is voted once: count rows
                n_votes = conn.execute("SELECT count(*) FROM svc_arena_votes").fetchone()[0]
                n_core = conn.execute(
                    "SELECT count(*) FROM pairwise WHERE id LIKE 'arena/bench/%'"
                ).fetchone()[0]
                lost, core_miss = max(0, len(acked) - n_votes), max(0, len(acked) - n_core)
            else:
                stored = set(
                    conn.execute(
                        "SELECT k.token_hash, a.task_id FROM svc_answers a JOIN svc_tokens k ON k.id = a.token_id"
                    )
                )
                token_ids = dict(conn.execute("SELECT token_hash, id FROM svc_tokens"))
                try:
                    core = {
                        r[0] for r in conn.execute("SELECT id FROM pairwise WHERE id LIKE 'campaign/bench/%'")
                    }
                except sqlite3.OperationalError:  # a prefkit whose service did not feed the core tables
                    core = set()
                lost = sum(1 for tok, tid in acked if (_h(tok), tid) not in stored)
                core_miss = sum(
                    1
                    for tok, tid in acked
                    if f"campaign/bench/{tid}/{token_ids[_h(tok)]}/overall" not in core
                )
    finally:
        proc.kill()
        proc.wait()
        log.close()
    lat_ms = sorted(x * 1000 for x in lat)
    return {
        "clients": clients,
        "acked_per_s": len(acked) / elapsed,
        "p50_ms": lat_ms[len(lat_ms) // 2],
        "p99_ms": lat_ms[int(len(lat_ms) * 0.99)],
        "requests": len(lat),
        "acked": len(acked),
        "lost": lost,
        "core_miss": core_miss,
        "sqlite_commits_per_s": ceiling,
        "server_cpu_ms_per_vote": 1000 * server_cpu / max(len(lat), 1),
        "client_cpu_ms_per_vote": 1000 * gen_cpu / max(len(lat), 1),
        "load_avg": load_avg,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, nargs="+", default=[16, 32])
    ap.add_argument("--repeat", type=int, default=1, help="runs per client count (the machine may be shared)")
    ap.add_argument("--synchronous", default="FULL")
    ap.add_argument("--tasks", type=int, default=5000)
    ap.add_argument(
        "--mode",
        choices=["judgments", "arena", "arena-next", "compare"],
        default="judgments",
        help="POST /api/v1/judgments; arena: GET a match then POST its vote (latency of the vote); arena-next: "
        "each vote's reply deals the next match (POST with next=true, one round trip per vote); compare: "
        "judgments, arena-next and arena interleaved, with the arena / judgment rate ratios",
    )
    args = ap.parse_args()
    print(
        f"prefkit web service load test: {args.mode} ({os.cpu_count()} CPUs, synchronous={args.synchronous}, "
        f"{args.seconds:.0f} s per run, load generator in its own process on the same machine)"
    )
    print(
        f"{'mode':>10} {'load':>5} {'clients':>7} {'acked votes/s':>14} {'p50 ms':>7} {'p99 ms':>7} {'acked':>7} "
        f"{'lost':>5} {'core miss':>9} {'raw SQLite commits/s':>21} {'server CPU ms/vote':>19} "
        f"{'client CPU ms/vote':>19}"
    )
    modes = ["judgments", "arena-next", "arena"] if args.mode == "compare" else [args.mode]
    ratios: dict[str, list[float]] = {m: [] for m in modes[1:]}
    for c in args.clients:
        for _ in range(args.repeat):
            rates = {}
            for mode in modes:  # interleaved, so that a change in the machine's load hits every mode alike
                r = run(args.seconds, c, args.synchronous, args.tasks, mode)
                rates[mode] = r["acked_per_s"]
                print(
                    f"{mode:>10} {r['load_avg']:>5.1f} {c:>7} {r['acked_per_s']:>14.0f} {r['p50_ms']:>7.1f} "
                    f"{r['p99_ms']:>7.1f} {r['acked']:>7} {r['lost']:>5} {r['core_miss']:>9} "
                    f"{r['sqlite_commits_per_s']:>21.0f} {r['server_cpu_ms_per_vote']:>19.2f} "
                    f"{r['client_cpu_ms_per_vote']:>19.2f}",
                    flush=True,
                )
            for m in modes[1:]:
                ratios[m].append(rates[m] / max(rates["judgments"], 1e-9))
    for m, rs in ratios.items():
        print(
            f"{m} / judgments acked votes/s: "
            + ", ".join(f"{x:.2f}" for x in rs)
            + f" (median {sorted(rs)[len(rs) // 2]:.2f}; target >= 0.5)"
        )


if __name__ == "__main__":
    main()
