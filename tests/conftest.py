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
