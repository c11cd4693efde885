"""End-to-end in real headless Chromium: invite link, keyboard votes, the leaderboard changes; XSS payloads inert.

Skips when /usr/bin/chromium is absent, unless PREFKIT_REQUIRE_BROWSER=1 (CI), where it fails instead.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import ADMIN

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _need_browser() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("PREFKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(
                f"{CHROMIUM} is missing and PREFKIT_REQUIRE_BROWSER=1: install Debian's chromium package"
            )
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package to run the browser tests")


@pytest.fixture(scope="module")
def browser(require_peer: Any) -> Iterator[Any]:
    _need_browser()
    sync_api = require_peer("playwright.sync_api")  # fails, not skips, under PREFKIT_REQUIRE_PEERS=1
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from .conftest import Server

    s = Server(tmp_path_factory.mktemp("live") / "p.db", "--demo", "--rate", "200").start()
    try:
        yield s
    finally:
        s.kill()


def _api(live: Any, method: str, path: str, token: str = ADMIN, **kw: Any) -> httpx.Response:
    return httpx.request(
        method, live.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10, **kw
    )


def _invite(live: Any, name: str, campaigns: list[str], arenas: list[str]) -> str:
    r = _api(
        live, "POST", "/api/v1/tokens", json={"annotator": name, "campaigns": campaigns, "arenas": arenas}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def _press_and_wait(page: Any, key: str, url: str) -> None:
    """Press ``key`` and wait until the navigation it starts (form POST, redirect) has loaded ``url``."""
    with page.expect_navigation(url=url):
        page.keyboard.press(key)


def _sign_in(page: Any, live: Any, token: str) -> None:
    """Open the invite link (a page) and press its Sign in button (a POST)."""
    page.goto(f"{live.url}/join/{token}")
    with page.expect_navigation():
        page.click("#sign-in")


def _shots() -> Path | None:
    d = os.environ.get("PREFKIT_SCREENSHOTS")
    if d:
        Path(d).mkdir(parents=True, exist_ok=True)
        return Path(d)
    return None


def test_annotator_votes_with_keyboard_and_sees_leaderboard_change(browser: Any, live: Any) -> None:
    token = _invite(live, "kb-user", ["demo-pairwise", "demo-ranking"], ["demo-arena", "demo-kwise"])
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in(page, live, token)
    assert "Hello, kb-user" in page.content()

    # pairwise campaign: key 1 picks the first shown response and submits
    page.goto(f"{live.url}/c/demo-pairwise")
    page.wait_for_selector("#task-form")
    shots = _shots()
    if shots:
        page.screenshot(path=str(shots / "annotator.png"), full_page=True)
    first_task = page.get_attribute("#task-form", "action")
    page.keyboard.press("1")  # picks response 1; submits nothing (a rationale can still be given)
    page.wait_for_timeout(200)
    assert page.get_attribute("#task-form", "action") == first_task
    page.keyboard.press("r")
    page.keyboard.type("clearer answer")
    _press_and_wait(page, "Control+Enter", "**/c/demo-pairwise?saved=1*")  # Ctrl+Enter in the box submits
    assert page.get_attribute("#task-form", "action") != first_task
    page.keyboard.press("0")  # a tie on the next task, then Enter
    _press_and_wait(page, "Enter", "**/c/demo-pairwise?saved=1*")
    assert "Saved." in page.content()
    _press_and_wait(page, "u", "**/c/demo-pairwise?saved=undone")  # undo: the tie is taken back
    page.keyboard.press("1")
    _press_and_wait(page, "Enter", "**/c/demo-pairwise?saved=1*")

    # ranking campaign: the trap: Enter on an untouched ranking stores nothing and says why
    page.goto(f"{live.url}/c/demo-ranking")
    _press_and_wait(page, "Enter", "**/c/demo-ranking/tasks/*")
    assert "rank the responses" in page.inner_text("#form-error")
    # pick response 3, move it to the top with the arrows, submit with Enter
    page.keyboard.press("3")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    order = page.input_value("input[name=o0]")
    top = page.get_attribute("fieldset.rank ol.ranklist > li:first-child", "data-index")
    assert order.split(",")[0] == top
    _press_and_wait(page, "Enter", "**/c/demo-ranking?saved=1*")

    # arena: three pairwise votes with the keyboard, then the leaderboard
    before = _api(live, "GET", "/api/v1/arenas/demo-arena/leaderboard", token).json()[0]
    assert before["n_votes"] == 0
    page.goto(f"{live.url}/a/demo-arena")
    for key in ("1", "2", "1"):
        page.wait_for_selector("#arena-form")
        _press_and_wait(page, key, "**/a/demo-arena?voted=1")
    _press_and_wait(page, "l", "**/a/demo-arena/leaderboard")
    assert "3 votes" in page.content()
    assert page.locator("svg.plot").first.locator("circle").count() == 5
    if shots:
        page.screenshot(path=str(shots / "leaderboard.png"), full_page=True)
    after = _api(live, "GET", "/api/v1/arenas/demo-arena/leaderboard", token).json()[0]
    assert after["n_votes"] == 3
    assert [r["score"] for r in after["rows"]] != [r["score"] for r in before["rows"]]

    # 4-wise arena: response 4 to the top, submit; the stored ranks put shown position 4 first
    page.goto(f"{live.url}/a/demo-kwise")
    page.keyboard.press("4")
    for _ in range(3):
        page.keyboard.press("ArrowUp")
    assert page.input_value("input[name=choice]").startswith("4,")
    if shots:
        page.screenshot(path=str(shots / "arena-kwise.png"), full_page=True)
    _press_and_wait(page, "Enter", "**/a/demo-kwise?voted=1")
    with sqlite3.connect(live.db) as conn:
        ranks = json.loads(
            conn.execute(
                "SELECT ranks FROM svc_arena_votes WHERE arena_id = (SELECT id FROM svc_arenas WHERE slug = 'demo-kwise')"
            ).fetchone()[0]
        )
    assert ranks[3] == 0
    assert not errors, errors
    page.close()


PAYLOADS = [
    "<script>window.__xss = 1; alert(1)</script>",
    '<img src=x onerror="window.__xss = 2; alert(2)">',
    "[click me](javascript:window.__xss=3)",
    '<svg onload="window.__xss = 4"><script>window.__xss = 5</script></svg>',
    '<a href="javascript:window.__xss=6" id="jslink">link</a>',
    "![pic](javascript:window.__xss=7)",
    '<iframe src="javascript:window.__xss=8"></iframe>',
    '"><img src=x onerror=window.__xss=9>',
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=10>",
    "[svg](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
]


def test_untrusted_candidates_execute_nothing(browser: Any, live: Any) -> None:
    rows = [
        {
            "id": f"x{i}",
            "context": p,
            "candidates": [{"id": "a", "text": p}, {"id": "b", "text": f"**safe** {p}"}],
        }
        for i, p in enumerate(PAYLOADS)
    ]
    r = _api(
        live,
        "POST",
        "/api/v1/campaigns",
        json={"slug": "xss", "rows": rows, "overlap": 1, "guidelines": PAYLOADS[1]},
    )
    assert r.status_code == 201, r.text
    arena_rows = [
        {
            "id": "p",
            "prompt": PAYLOADS[0],
            "outputs": {PAYLOADS[1]: PAYLOADS[3], '<b onmouseover="window.__xss=11">m</b>': PAYLOADS[2]},
        }
    ]
    assert (
        _api(live, "POST", "/api/v1/arenas", json={"slug": "xss-arena", "rows": arena_rows}).status_code
        == 201
    )
    token = _invite(live, "xss-user", ["xss"], ["xss-arena"])
    # bypass_csp: the sanitiser alone must hold (the CSP header is a second, independent layer)
    ctx = browser.new_context(bypass_csp=True)
    page = ctx.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _sign_in(page, live, token)
    for _ in range(len(PAYLOADS)):
        page.goto(f"{live.url}/c/xss")
        page.wait_for_load_state("load")
        for link in page.locator(".md a").all():
            link.click(no_wait_after=True)
        page.wait_for_timeout(50)
        assert page.evaluate("window.__xss") is None
        assert page.locator(".md script, .md svg, .md iframe, .md [onerror], .md [onload]").count() == 0
        _press_and_wait(page, "s", "**/c/xss?saved=skipped*")
    page.goto(f"{live.url}/c/xss/guidelines")
    for url in (f"{live.url}/a/xss-arena", f"{live.url}/a/xss-arena/leaderboard"):
        page.goto(url)
        page.wait_for_load_state("load")
        for el in page.locator(".md a, td.name, svg.plot text").all():
            el.hover()
        assert page.evaluate("window.__xss") is None
    assert dialogs == []
    ctx.close()


def test_phone_width_and_error_pages(browser: Any, live: Any) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})
    _sign_in(page, live, ADMIN)
    for path in ("/admin", "/admin/campaigns/demo-pairwise", "/a/demo-arena/leaderboard"):
        page.goto(live.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)  # (before: 846 px on /admin)
    page.goto(live.url + "/c/no-such-campaign")
    assert "404" in page.inner_text("h1") and "no campaign" in page.content()
    page.goto(live.url + "/join/not-a-token")
    assert "401" in page.inner_text("h1")
    page.close()
