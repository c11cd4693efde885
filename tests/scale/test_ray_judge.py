"""Judge calls on a real two-node Ray cluster: one rate limit over every worker (timed at a real OpenAI-protocol
HTTP server on 127.0.0.1), the same reply cache and verdicts as a local run, resumed without repeated calls."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from prefkit.cli.main import app
from prefkit.errors import ValidationError
from prefkit.storage.engine.calls import TokenBucket

MODEL = "judge-1"


class Server:
    """Chat completions like a judge that prefers the answer with "good" in it; every request's time kept."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        me = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with me.lock:
                    me.times.append(time.monotonic())
                    me.bodies.append(body)
                text = "\n".join(m["content"] for m in body["messages"])
                a = re.search(r"Assistant A's Answer\]\n(.*?)\n\[The End of Assistant A", text, re.S)
                b = re.search(r"Assistant B's Answer\]\n(.*?)\n\[The End of Assistant B", text, re.S)
                ga, gb = bool(a and "good" in a.group(1)), bool(b and "good" in b.group(1))
                verdict = "[[A]]" if ga and not gb else "[[B]]" if gb and not ga else "[[C]]"
                reply = {
                    "id": "x", "object": "chat.completion", "created": 0, "model": MODEL,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": verdict}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
                }  # fmt: skip
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def max_in_window(self, window: float) -> int:
        t = sorted(self.times)
        return max((sum(1 for u in t[i:] if u < s + window) for i, s in enumerate(t)), default=0)


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    s.thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.fixture(scope="module")
def ray(ray_cluster, require_peer):
    require_peer("openai", "judge")
    from prefkit.storage.engine import connect_ray

    mod = connect_ray(ray_cluster)
    yield mod
    mod.shutdown()


def test_the_token_bucket_spaces_reservations_and_saves_at_most_a_burst() -> None:
    now = [0.0]
    b = TokenBucket(4.0, burst=2, clock=lambda: now[0])
    assert [b.reserve() for _ in range(4)] == [0.0, 0.0, 0.25, 0.5]  # two saved, then one every 1/4 s
    now[0] = 10.0  # idle for long: still at most `burst` at once
    assert [b.reserve() for _ in range(3)] == [0.0, 0.0, 0.25]
    with pytest.raises(ValidationError, match="rate limit must be > 0"):
        TokenBucket(0)


def test_the_rate_limit_holds_over_two_workers(ray, server: Server) -> None:
    from prefkit.annotation.openai_backend import OpenAIChat
    from prefkit.annotation.types import ChatRequest
    from prefkit.storage.engine.calls import RayCalls

    rate, n = 2.0, 10
    calls = RayCalls(ray, partial(OpenAIChat, MODEL, base_url=server.url, timeout=30), workers=2, rate=rate)
    try:
        reqs = [ChatRequest((("user", f"question {i}"),)) for i in range(n)]
        with ThreadPoolExecutor(8) as pool:  # many callers at once, as the runner's threads
            replies = list(pool.map(lambda r: calls("complete", r), reqs))
        counts = calls.counts()
    finally:
        calls.close()
    assert [r.text for r in replies] == ["[[C]]"] * n
    assert len(server.times) == n
    assert sorted(counts) == [n // 2, n // 2]  # both workers called the server
    # at the server (the network's jitter aside): never more than rate * window (+ one) in any 2-s window,
    # and the calls spread over (n - 1) / rate seconds, as if one client had sent them all
    assert server.max_in_window(2.0) <= 2 * rate + 1
    assert max(server.times) - min(server.times) >= (n - 1) / rate - 0.5


def _battles(path: Path, n: int) -> Path:
    rows = [
        {"model_a": f"m{i}a", "model_b": f"m{i}b", "winner": "tie", "question_id": f"q{i}", "prompt": f"Say {i}.",
         "response_a": "a good answer" if i % 3 == 0 else "meh", "response_b": "a good one" if i % 3 == 1 else "no"}
        for i in range(n)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _run(args: list[str]) -> str:
    res = CliRunner().invoke(app, ["judge", "run", *args, "-q"])
    assert res.exit_code == 0, res.stderr
    return res.stderr


def test_judge_run_on_ray_gives_the_local_verdicts_through_the_same_cache_and_resumes(
    ray, server: Server, tmp_path: Path
) -> None:
    src = _battles(tmp_path / "b.jsonl", 8)
    common = [str(src), "--model", MODEL, "--base-url", server.url]
    _run([*common, "--out", str(tmp_path / "local.jsonl"), "--cache", str(tmp_path / "local.sqlite")])
    assert len(server.times) == 16  # both orders
    # Ray, a fresh cache, interrupted after 3 pairs (--limit), then run in full: no call is made twice
    ray_args = [
        *common,
        "--cache",
        str(tmp_path / "ray.sqlite"),
        "--engine",
        "ray",
        "--workers",
        "2",
        "--rate",
        "50",
    ]
    _run([*ray_args, "--out", str(tmp_path / "part.jsonl"), "--limit", "3"])
    assert len(server.times) == 16 + 6
    err = _run([*ray_args, "--out", str(tmp_path / "ray.jsonl")])
    assert len(server.times) == 16 + 16
    assert "10 calls, 6 cached" in err
    bodies = [json.dumps(b["messages"]) for b in server.bodies[16:]]
    assert len(set(bodies)) == len(bodies) == 16
    local = [json.loads(x) for x in (tmp_path / "local.jsonl").read_text().splitlines()]
    remote = [json.loads(x) for x in (tmp_path / "ray.jsonl").read_text().splitlines()]
    assert remote == local
    assert [r["winner"] for r in local][:3] == ["model_a", "model_b", "tie"]
    # a rerun on Ray costs nothing: every reply is in the cache
    err = _run([*ray_args, "--out", str(tmp_path / "again.jsonl")])
    assert len(server.times) == 32 and "0 calls, 16 cached" in err


def test_rate_and_workers_are_checked(tmp_path: Path) -> None:
    src = _battles(tmp_path / "b.jsonl", 2)
    res = CliRunner().invoke(app, ["judge", "run", str(src), "--model", "scripted", "--out", str(tmp_path / "v.jsonl"),
                                   "--rate", "0"])  # fmt: skip
    assert res.exit_code == 2 and "--rate must be > 0" in res.stderr
    res = CliRunner().invoke(app, ["judge", "run", str(src), "--model", "scripted", "--out", str(tmp_path / "v.jsonl"),
                                   "--workers", "2"])  # fmt: skip
    assert res.exit_code == 2 and "--workers only applies to --engine ray" in res.stderr


def test_a_judge_run_killed_midway_resumes_without_repeating_answered_calls(
    ray, ray_cluster: str, server: Server, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys

    src = _battles(tmp_path / "b.jsonl", 12)
    args = [sys.executable, "-m", "prefkit.cli.main", "judge", "run", str(src), "--model", MODEL, "--base-url",
            server.url, "--cache", str(tmp_path / "c.sqlite"), "--out", str(tmp_path / "v.jsonl"), "-q",
            "--engine", "ray", "--ray-address", ray_cluster, "--workers", "2", "--concurrency", "2", "--rate", "4"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 180
    while len(server.times) < 8 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver dies mid-run (its Ray workers with it)
    proc.communicate(timeout=60)
    first = len(server.times)
    assert 8 <= first < 24, f"the run was not interrupted midway ({first} calls)"
    err = _run([*args[5:14], "--engine", "ray", "--workers", "2", "--concurrency", "2"])  # resumed here
    bodies = [json.dumps(b["messages"]) for b in server.bodies]
    repeated = len(bodies) - len(set(bodies))
    assert len(set(bodies)) == 24  # every call answered once in the end
    assert repeated <= 2, f"{repeated} calls repeated (at most the 2 in flight when the driver died)"
    assert f"{24 - (first - repeated)} calls, {first - repeated} cached" in err
