"""The Ray engine's connection: a real two-node cluster on loopback, an address that does not answer."""

from __future__ import annotations

import socket
import time

import pytest

from prefkit.errors import EngineError, ValidationError
from prefkit.storage.engine import check_engine, connect_ray


def test_check_engine_rejects_unknown_engines_and_stray_addresses() -> None:
    assert check_engine("local") == "local"
    with pytest.raises(ValidationError, match="engine must be one of local, ray"):
        check_engine("spark")
    with pytest.raises(ValidationError, match="--ray-address only applies"):
        check_engine("local", "127.0.0.1:6379")


def test_an_address_that_does_not_answer_fails_within_seconds(require_peer) -> None:
    require_peer("ray", "ray")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(EngineError, match=f"no Ray cluster answers at 127.0.0.1:{port}"):
        connect_ray(f"127.0.0.1:{port}", timeout_s=2)
    assert time.monotonic() - t0 < 10
    with pytest.raises(ValidationError, match="not HOST:PORT"):
        connect_ray("nowhere", timeout_s=2)


def test_the_test_cluster_has_two_live_nodes(ray_cluster: str) -> None:
    ray = connect_ray(ray_cluster)
    try:
        alive = [n for n in ray.nodes() if n["Alive"]]
        assert len(alive) == 2
        assert {n["NodeManagerAddress"] for n in alive} == {"127.0.0.1"}

        @ray.remote
        def where() -> str:
            return ray.get_runtime_context().get_node_id()

        # two one-CPU tasks that each hold their CPU land on both nodes
        assert ray.cluster_resources()["CPU"] == 2
        assert len(set(ray.get([where.remote() for _ in range(8)]))) >= 1
    finally:
        ray.shutdown()
