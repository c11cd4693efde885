"""require_peer: a missing peer library skips a golden test locally but fails it under PREFKIT_REQUIRE_PEERS=1."""

from __future__ import annotations

import pytest


def test_present_peer_is_imported(require_peer) -> None:
    assert require_peer("json").dumps([1]) == "[1]"


def test_missing_peer_skips_locally(require_peer, monkeypatch) -> None:
    monkeypatch.delenv("PREFKIT_REQUIRE_PEERS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="pip install"):
        require_peer("prefkit_no_such_peer")


def test_missing_peer_fails_in_ci(require_peer, monkeypatch) -> None:
    monkeypatch.setenv("PREFKIT_REQUIRE_PEERS", "1")
    with pytest.raises(pytest.fail.Exception, match="PREFKIT_REQUIRE_PEERS=1"):
        require_peer("prefkit_no_such_peer")


def test_ci_requires_peers(project_root) -> None:
    assert "export PREFKIT_REQUIRE_PEERS=1" in (project_root / ".ci" / "run").read_text(encoding="utf-8")
