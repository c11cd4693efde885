"""``prefkit serve``: help text, and --demo printing working admin / annotator URLs (real process)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .conftest import free_port, sign_in


def test_serve_help_has_example() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "prefkit.cli.main", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "Example: prefkit serve" in out.stdout and "--demo" in out.stdout


def test_serve_demo_prints_working_links(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "demo.db"
    cmd = [
        sys.executable,
        "-m",
        "prefkit.cli.main",
        "serve",
        "--db",
        str(db),
        "--port",
        str(port),
        "--demo",
        "--format",
        "json",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while True:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line, proc.stderr.read()  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith("}"):
                break
        urls = json.loads("".join(lines))
        assert set(urls) >= {"admin", "annotator", "docs", "arena", "leaderboard"}
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(follow_redirects=True, timeout=10) as c:
            r = sign_in(c, base, urls["annotator"].rsplit("/", 1)[1])
            assert r.status_code == 200 and "demo-annotator" in r.text and "/c/demo-pairwise" in r.text
        with httpx.Client(follow_redirects=True, timeout=10) as c:
            r = sign_in(c, base, urls["admin"].rsplit("/", 1)[1])
            assert r.status_code == 200 and "Admin" in r.text
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    # --demo is idempotent: a second start reuses the campaigns and the same invite link
    from prefkit.service import Settings, create_app
    from prefkit.service.demo import ensure_demo

    app = create_app(Settings(db_path=db))
    info = ensure_demo(app.state.svc)
    assert urls["annotator"].endswith(info.annotator_token)
    app.state.svc.close()


def test_serve_refuses_an_arena_cap_below_one_before_touching_the_database(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    cmd = [sys.executable, "-m", "prefkit.cli.main", "serve", "--db", str(db), "--port", str(free_port())]
    out = subprocess.run([*cmd, "--arena-cap", "0"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "arena_cap" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not db.exists()
