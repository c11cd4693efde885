"""The annotation lead's pages in real headless Chromium: the per-annotator table at phone width, pausing a
campaign from its page (the annotator sees why), editing guidelines, filtering answers, the review queue and
deleting a campaign. Skips like :mod:`tests.service.test_browser` (PREFKIT_REQUIRE_BROWSER=1 fails instead)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from .test_browser import _api, _invite, _press_and_wait, _sign_in, browser, live  # noqa: F401

pytestmark = pytest.mark.browser

ROWS = [
    {"id": f"q{i}", "context": f"question {i}", "candidates": [{"id": f"q{i}a", "text": f"A{i}"}, {"id": f"q{i}b", "text": f"B{i}"}]}
    for i in range(3)
] + [
    {"id": "g1", "context": "gold: 2 + 2?", "candidates": [{"id": "g1a", "text": "5"}, {"id": "g1b", "text": "4"}],
     "gold": {"overall": ["g1b"]}},
]  # fmt: skip


def test_lead_pages(browser: Any, live: Any) -> None:  # noqa: F811
    r = _api(
        live,
        "POST",
        "/api/v1/campaigns",
        json={"slug": "lead", "rows": ROWS, "overlap": 1, "guidelines": "old"},
    )
    assert r.status_code == 201, r.text
    token = _invite(live, "lead-ann", ["lead"], [])
    errors: list[str] = []
    ann = browser.new_page(viewport={"width": 1000, "height": 800})
    ann.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in(ann, live, token)
    for _ in range(4):  # every task, response 1 with the keyboard
        ann.goto(f"{live.url}/c/lead")
        ann.wait_for_selector("#task-form")
        ann.keyboard.press("1")
        _press_and_wait(ann, "Enter", "**/c/lead?saved=1*")
    with sqlite3.connect(live.db) as conn:  # past the undo window (10 s), so that they can be reviewed
        conn.execute("UPDATE svc_answers SET created_at = created_at - 60")

    admin = browser.new_page(viewport={"width": 390, "height": 844})
    admin.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in(admin, live, "admin-secret-token-for-tests")
    admin.goto(f"{live.url}/admin/campaigns/lead")
    assert admin.locator("#annotators tbody tr").count() == 1
    assert "lead-ann" in admin.inner_text("#annotators") and "/1" in admin.inner_text("#annotators")
    assert admin.evaluate("document.documentElement.scrollWidth") <= 390

    # pause from the page: the annotator is told why
    admin.select_option("#settings-form select[name=status]", "paused")
    admin.fill("#settings-form textarea[name=guidelines]", "**new** guidelines")
    with admin.expect_navigation():
        admin.click("#settings-form button[type=submit]")
    assert admin.inner_text("#status") == "paused"
    resp = ann.goto(f"{live.url}/c/lead")
    assert resp is not None and resp.status == 409 and "paused" in ann.content()
    ann.goto(f"{live.url}/c/lead/guidelines")
    assert "new guidelines" in ann.inner_text("main")

    # filter the answers
    admin.goto(f"{live.url}/admin/campaigns/lead/answers")
    assert admin.locator("#answers tbody tr").count() == 4
    admin.select_option("#filters select[name=check]", "gold")
    with admin.expect_navigation():
        admin.click("#filters button[type=submit]")
    assert admin.locator("#answers tbody tr").count() == 1

    # the review queue: accept the first answer, override the second
    admin.goto(f"{live.url}/c/lead/review")
    assert "lead-ann answered" in admin.inner_text("#under-review")
    with admin.expect_navigation():
        admin.click("#accept")
    assert "Accepted." in admin.content()
    admin.locator("#override-form input[name=c0]").nth(1).check()
    with admin.expect_navigation():
        admin.click("#override")
    assert "Overridden" in admin.content()
    admin.goto(f"{live.url}/admin/campaigns/lead/answers?review=overrides")
    assert admin.locator("#answers tbody tr").count() == 1 and "override of" in admin.inner_text("#answers")

    # delete: the slug must be typed
    admin.goto(f"{live.url}/admin/campaigns/lead")
    admin.fill("#delete-form input[name=confirm]", "lead")
    with admin.expect_navigation():
        admin.click("#delete-form button[type=submit]")
    assert "/admin/campaigns/lead" not in admin.content()
    assert _api(live, "GET", "/api/v1/campaigns/lead/annotators").status_code == 404
    assert not errors, errors
    ann.close()
    admin.close()
