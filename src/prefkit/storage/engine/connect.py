"""Reach a Ray cluster by address, or fail within seconds with one clear line (never hang)."""

from __future__ import annotations

import os
import shlex
import socket
from typing import Any, NoReturn

from prefkit._optional import require
from prefkit.errors import EngineError, ValidationError

ENGINES = ("local", "ray")


def check_engine(engine: str, ray_address: str | None = None) -> str:
    """Validate ``--engine`` / ``--ray-address`` and return the engine name."""
    if engine not in ENGINES:
        raise ValidationError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if ray_address is not None and engine != "ray":
        raise ValidationError("--ray-address only applies to --engine ray; add --engine ray or drop the address")
    return engine


def _host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValidationError(
            f"Ray address {address!r} is not HOST:PORT (e.g. 127.0.0.1:6379, the address `ray start --head` prints)"
        )
    return host, int(port)


_joined: dict[str, str | None] = {}  # the address this process joined (one Ray per process)


def connect_ray(address: str | None = None, *, timeout_s: float = 10.0) -> Any:
    """Connect this process to a Ray cluster and return the ``ray`` module.

    ``address`` is ``HOST:PORT`` of a running head node (``ray start --head``), ``auto`` (``RAY_ADDRESS`` or the
    cluster started on this machine), or ``None`` (start a private local Ray in this process). The head's port
    is probed first, so a cluster that does not answer is reported within ``timeout_s`` instead of after Ray's
    own minute of retries. Connecting twice to the same cluster, or with no address once connected, is a no-op;
    connecting to another address first leaves the cluster this process joined.
    """
    ray = require("ray", "ray")
    if ray.is_initialized():
        if address in (None, "auto", _joined.get("address")):
            return ray  # this process's Ray (joined here, or by the caller through ray.init)
        ray.shutdown()
    target = address
    if address == "auto":
        target = os.environ.get("RAY_ADDRESS") or "auto"
    if target not in (None, "auto"):
        host, port = _host_port(str(target).removeprefix("ray://"))
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                pass
        except OSError as exc:
            raise EngineError(
                f"no Ray cluster answers at {target} ({exc.strerror or exc}); start one with "
                f"`ray start --head --node-ip-address=127.0.0.1 --port={port}` or pass the address it prints"
            ) from exc
    try:
        ray.init(
            address=target,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
            configure_logging=True,
        )
    except (ConnectionError, RuntimeError) as exc:
        raise EngineError(f"could not join the Ray cluster at {target}: {exc}") from exc
    _joined["address"] = address
    return ray


def loopback_only() -> bool:
    """True inside a private network namespace whose only interface is loopback (``unshare -n``): there Ray's
    only address is 127.0.0.1. Elsewhere Ray advertises the machine's network address, which a sandbox that
    serves on loopback only cannot reach."""
    try:
        return [name for _, name in socket.if_nameindex()] == ["lo"]
    except OSError:
        return False


def reexec_in_private_network(argv: list[str]) -> NoReturn:
    """Replace this process by ``argv`` run inside a new private network namespace with loopback up (needs
    root or user namespaces; what the Ray tests and benchmarks of this sandbox do)."""
    cmd = " ".join(shlex.quote(a) for a in argv)
    os.execvp("unshare", ["unshare", "-n", "sh", "-c", f"ip link set lo up && exec {cmd}"])
