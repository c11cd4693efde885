"""Shared fixtures: the location of ../shared/data (real public data; tests skip without it)."""

from __future__ import annotations

import os
from pathlib import Path

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
