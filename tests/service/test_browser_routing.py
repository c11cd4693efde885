"""A routed campaign in real headless Chromium: the admin's view shows the routes and reasons; the annotator is
dealt only the instances routed to people (skips like ``test_browser.py`` when Chromium is absent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import ADMIN
from .test_browser import ARGS, CHROMIUM, _need_browser, _shots, _sign_in
from .test_routing import FakeJudge, row, settled

pytestmark = pytest.mark.browser
H = {"Authorization": f"Bearer {ADMIN}"}


def test_routed_campaign_admin_view_and_annotator_page(
    require_peer: Any, tmp_path: Path, server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _need_browser()
    sync_api = require_peer("playwright.sync_api")
    monkeypatch.setenv("PREFKIT_CACHE", str(tmp_path / "cache"))
    judge = FakeJudge()
    judge.thread.start()
    try:
        live = server_factory(tmp_path / "p.db", "--rate", "200").start()
        rows = [row(0, "human"), row(1, "ai"), row(2, marker="FLIP"), row(3, good="b")]
        body = {"slug": "routed", "rows": rows, "overlap": 1,
                "routing": {"mode": "online", "judges": [{"model": "judge-1", "base_url": judge.url}]}}  # fmt: skip
        r = httpx.post(f"{live.url}/api/v1/campaigns", json=body, headers=H, timeout=30)
        assert r.status_code == 201, r.text
        settled(live, "routed")
        r = httpx.post(
            f"{live.url}/api/v1/tokens", json={"annotator": "person", "campaigns": ["routed"]}, headers=H
        )
        person = r.json()["token"]
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                _sign_in(page, live, ADMIN)
                page.goto(f"{live.url}/admin/campaigns/routed")
                page.wait_for_selector("#routing")
                shots = _shots()
                if shots:
                    page.screenshot(path=str(shots / "admin-routing.png"), full_page=True)
                assert page.inner_text("#routing-state") == "idle"
                counts = page.inner_text("#routing-counts")
                assert "2 tasks for people" in counts and "2 answered by the judge" in counts
                reasons = page.inner_text("#routing-reasons")
                assert "swap-inconsistent" in reasons and "judged" in reasons
                assert errors == []

                annotator = browser.new_page()
                _sign_in(annotator, live, person)
                annotator.goto(f"{live.url}/c/routed")
                annotator.wait_for_selector("#task-form")
                text = annotator.content()
                assert "Question 0" in text  # the first instance for people
                assert "Question 1" not in text and "Question 3" not in text  # judged: never shown
            finally:
                browser.close()
    finally:
        judge.server.shutdown()
        judge.server.server_close()
