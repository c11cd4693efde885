"""The report in real headless Chromium: renders, no console errors, no network, readable at 390 px.

Skips when /usr/bin/chromium is absent, unless PREFKIT_REQUIRE_BROWSER=1 (CI), where it fails instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefkit.analysis.llmfao import read_llmfao
from prefkit.report.page import explain_pairs, render_report

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("PREFKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and PREFKIT_REQUIRE_BROWSER=1")
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package to run the browser tests")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def report_file(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import numpy as np

    pairs = read_llmfao(shared_data / "llmfao")
    margins = np.random.default_rng(0).normal(0.5, 1.0, size=500)
    out = tmp_path_factory.mktemp("report") / "report.html"
    out.write_text(render_report(explain_pairs(pairs, margins=margins), title="llmfao"), encoding="utf-8")
    return out


@pytest.mark.parametrize("width", [390, 1280])
def test_report_renders_offline_without_errors(browser: Any, report_file: Path, width: int) -> None:
    ctx = browser.new_context(viewport={"width": width, "height": 844}, offline=True)
    page = ctx.new_page()
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report_file.as_uri())
    page.wait_for_load_state("load")
    try:
        assert problems == []
        assert requests == [report_file.as_uri()]  # the page itself, nothing else
        headings = page.locator("h2").all_inner_texts()
        assert headings[:4] == [
            "Leaderboard",
            "What drives the verdicts",
            "Annotators: agreement and reliability",
            "Consistency",
        ]
        assert "Reward model calibration" in headings
        assert page.locator("svg").count() >= 4
        # every chart drew something: circles (intervals) or rects (heatmap / bars)
        assert page.locator("svg circle").count() > 50 and page.locator("svg rect").count() > 50
        # readable on a phone: no sideways scrolling of the page, charts fit, text not tiny
        scroll_w = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_w <= width
        widths = page.evaluate(
            "Array.from(document.querySelectorAll('svg')).map(s => s.getBoundingClientRect().width)"
        )
        assert max(widths) <= width
        size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('p')).fontSize)")
        assert size >= 14
        if width == 390:
            page.screenshot(path=str(report_file.with_suffix(".390.png")), full_page=False)
    finally:
        ctx.close()
