"""Untrusted text to safe HTML: Markdown rendered by markdown-it-py (raw HTML off) and cleaned by nh3."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from prefkit._optional import require

_TAGS = {
    "p",
    "br",
    "hr",
    "em",
    "strong",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "img",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "del",
}
_ATTRS = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"align"}, "td": {"align"}}


@lru_cache(maxsize=1)
def _md() -> Any:
    markdown_it = require("markdown_it")
    return (
        markdown_it.MarkdownIt("commonmark", {"html": False, "linkify": False})
        .enable("table")
        .enable("strikethrough")
    )


def sanitize_html(html: str) -> str:
    nh3 = require("nh3")
    return str(
        nh3.clean(
            html,
            tags=_TAGS,
            attributes=_ATTRS,
            url_schemes={"http", "https", "mailto"},
            link_rel="noopener noreferrer nofollow",
            strip_comments=True,
        )
    )


def render_markdown(text: str) -> str:
    """Markdown -> sanitised HTML (raw HTML in the source is escaped, then an allow-list cleaner runs)."""
    return sanitize_html(_md().render(text or ""))
