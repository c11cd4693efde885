"""Fixtures of the web-service tests: an app on a temporary project file, and a real server process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from prefkit.service import Settings, create_app  # noqa: E402
from prefkit.service.demo import ensure_demo  # noqa: E402

ADMIN = "admin-secret-token-for-tests"


@dataclass
class Env:
    app: Any
    client: TestClient
    admin: str
    annotator: str

    def h(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def invite(
        self, name: str, campaigns: list[str] = (), arenas: list[str] = (), kind: str = "human"
    ) -> str:  # type: ignore[assignment]
        r = self.client.post(
            "/api/v1/tokens",
            json={"annotator": name, "kind": kind, "campaigns": list(campaigns), "arenas": list(arenas)},
            headers=self.h(self.admin),
        )
        assert r.status_code == 201, r.text
        return str(r.json()["token"])


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    app = create_app(
        Settings(
            db_path=tmp_path / "p.db",
            admin_token=ADMIN,
            synchronous="NORMAL",
            rate_per_s=1000,
            rate_burst=1000,
        )
    )
    info = ensure_demo(app.state.svc)
    with TestClient(app, base_url="http://testserver") as client:
        yield Env(app, client, ADMIN, info.annotator_token)


def sign_in(client: Any, base: str, token: str) -> Any:
    """Sign ``client`` (an httpx or test client keeping cookies) in with an invite link, as a browser does:
    open the link (a page, nothing signed in yet), then press the button (a POST with the page's nonce)."""
    import re

    r = client.get(f"{base}/join/{token}", headers={"accept": "text/html"})
    assert r.status_code == 200, r.text
    nonce = re.search(r'name="nonce" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    return client.post(f"{base}/join", data={"token": token, "nonce": nonce}, headers={"accept": "text/html"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``prefkit serve`` in a subprocess on a free loopback port."""

    def __init__(self, db: Path, *extra: str) -> None:
        self.db = db
        self.extra = extra
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            sys.executable,
            "-m",
            "prefkit.cli.main",
            "serve",
            "--db",
            str(self.db),
            "--port",
            str(self.port),
            "--admin-token",
            ADMIN,
            *self.extra,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode() if self.proc.stdout else ""
                raise RuntimeError(f"server exited early:\n{out}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("server did not become ready in 60 s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


@pytest.fixture
def server_factory() -> Iterator[Any]:
    servers: list[Server] = []

    def make(db: Path, *extra: str) -> Server:
        s = Server(db, *extra)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.kill()
