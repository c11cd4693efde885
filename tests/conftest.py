"""Shared fixtures: the location of ../shared/data (real public data; tests skip without it), and
:func:`require_peer`, the import of an outside oracle that may skip locally but never in CI."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    env = os.environ.get("PREFKIT_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = shared_data_dir()
    if not d.is_dir():
        pytest.skip(f"shared data not found at {d} (set PREFKIT_SHARED_DATA to its location)")
    return d


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


REQUIRE_PEERS = "PREFKIT_REQUIRE_PEERS"


def require_peer(name: str, extra: str = "dev") -> ModuleType:
    """Import ``name`` (a peer library used as an oracle, or an optional extra a test needs).

    Where it is missing the test skips, unless ``PREFKIT_REQUIRE_PEERS=1`` (set by ``.ci/run``): then it fails,
    so that CI never passes by silently skipping the comparisons with outside libraries.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        msg = f"{name} is not installed ({exc}); pip install 'prefkit[{extra}]'"
        if os.environ.get(REQUIRE_PEERS) == "1":
            pytest.fail(f"{msg} ({REQUIRE_PEERS}=1: peers are required)", pytrace=False)
        pytest.skip(msg)


@pytest.fixture(name="require_peer", scope="session")
def _require_peer_fixture():
    """:func:`require_peer` as a fixture (test modules cannot import from conftest under importlib mode)."""
    return require_peer


# --- a real Ray cluster on loopback (issue 17) -------------------------------------------------------------------

# Every Ray process the tests start (clusters, CLI drivers, private local Rays) runs without token auth: a local
# `ray.init()` otherwise writes ~/.ray/auth_token, and nodes started afterwards then refuse to join a cluster
# started without one (or the other way round).
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """A real two-node Ray cluster on 127.0.0.1 (``ray start --head`` plus a second ``ray start --address``),
    one CPU each, stopped at the end of the session; yields its address (``127.0.0.1:PORT``).

    Each node runs ``ray start --block`` as a child process, so stopping it stops only this cluster (never
    other Ray processes on the machine). Needs a private network namespace: run the tests as
    ``unshare -n sh -c 'ip link set lo up; make test'`` (what ``.ci/run`` does). Skips locally when Ray or the
    namespace is missing; fails under ``PREFKIT_REQUIRE_PEERS=1``.
    """
    import contextlib
    import shutil
    import signal
    import subprocess
    import sys
    import time

    require_peer("ray", "ray")
    from prefkit.storage.engine import loopback_only

    if not loopback_only():
        msg = "Ray tests need a private network namespace: unshare -n sh -c 'ip link set lo up; make test'"
        if os.environ.get(REQUIRE_PEERS) == "1":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    port = _free_port()
    address = f"127.0.0.1:{port}"
    tmp = tmp_path_factory.mktemp("ray")
    # RAY_AUTH_MODE=disabled: a plain local `ray.init()` elsewhere on the machine leaves ~/.ray/auth_token,
    # after which a second node refuses to join a cluster that was started without it
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--block", "--disable-usage-stats"]
    logs = [open(tmp / "head.log", "w"), open(tmp / "worker.log", "w")]  # noqa: SIM115 - closed below
    procs: list[subprocess.Popen[bytes]] = []

    def _start(args: list[str], log) -> None:
        procs.append(
            subprocess.Popen(
                [ray_bin, "start", *args, *common], stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,
            )
        )

    def _nodes_alive() -> int:
        out = subprocess.run(
            [sys.executable, "-c", f"import ray; ray.init(address={address!r}, logging_level='ERROR');"
             "print(sum(n['Alive'] for n in ray.nodes()))"],
            capture_output=True, text=True, env=env, timeout=60,
        )
        return int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else 0

    try:
        _start(["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={tmp}"], logs[0])
        deadline = time.monotonic() + 90
        import socket

        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        _start([f"--address={address}"], logs[1])
        while time.monotonic() < deadline and _nodes_alive() < 2:
            time.sleep(1)
        if _nodes_alive() < 2:
            pytest.fail(f"the Ray test cluster did not come up; logs in {tmp}", pytrace=False)
        yield address
    finally:
        # the worker node first (a worker whose head is gone keeps retrying), then the head; each node's whole
        # process group (raylet, workers), SIGKILL after a grace period, always reaped
        for p in reversed(procs):
            for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 30)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, sig)
                try:
                    p.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        for log in logs:
            log.close()
