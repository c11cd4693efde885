"""Untrusted text to safe HTML: Markdown rendered by markdown-it-py (raw HTML off) and cleaned by nh3."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

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


def allowed_media(url: str, origins: Iterable[str] = ()) -> bool:
    """May untrusted text load ``url`` as an image? Only a normalised path under ``/static/`` (never another
    same-origin URL: ``/logout``, ``/join/...``, ``/static/../x``) or a URL on one of the ``origins`` the
    operator allowed (``https://cdn.example.org``)."""
    from prefkit.service.campaigns import media_path

    if media_path(url) is not None:
        return True
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or "\\" in url:
        return False
    return f"{parts.scheme}://{parts.netloc}".lower() in {o.rstrip("/").lower() for o in origins}


def sanitize_html(html: str, media_origins: Iterable[str] = ()) -> str:
    """Allow-list cleaning; images keep their ``src`` only when :func:`allowed_media` says so."""
    nh3 = require("nh3")
    origins = tuple(media_origins)

    def keep(element: str, attribute: str, value: str) -> str | None:
        if element == "img" and attribute == "src" and not allowed_media(value, origins):
            return None
        return value

    return str(
        nh3.clean(
            html,
            tags=_TAGS,
            attributes=_ATTRS,
            url_schemes={"http", "https", "mailto"},
            link_rel="noopener noreferrer nofollow",
            strip_comments=True,
            attribute_filter=keep,
        )
    )


def render_markdown(text: str, media_origins: Iterable[str] = ()) -> str:
    """Markdown -> sanitised HTML (raw HTML in the source is escaped, then an allow-list cleaner runs; images
    load only from ``/static/`` or ``media_origins``)."""
    return sanitize_html(_md().render(text or ""), media_origins)
