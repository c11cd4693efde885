"""Settings of the web service (one dataclass; ``prefkit serve`` fills it from its flags)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path


def _env_origins() -> tuple[str, ...]:
    return tuple(o.strip() for o in os.environ.get("PREFKIT_MEDIA_ORIGINS", "").split(",") if o.strip())


@dataclass
class Settings:
    """How the service runs.

    ``admin_token``: the admin's secret; when ``None`` the one stored in the project file is used (created
    on first start). ``synchronous``: SQLite's durability level for the vote writer (``FULL`` survives power
    loss; ``NORMAL`` with WAL survives a killed process). ``rate_per_s`` / ``rate_burst``: per-token token
    bucket. ``csp``: send a strict Content-Security-Policy (turn off only to test the sanitiser alone).
    ``media_origins``: origins (``https://cdn.example.org``) that images, audio and video may load from besides
    ``/static/`` (default: ``PREFKIT_MEDIA_ORIGINS``, comma-separated); untrusted Markdown loads nothing else.
    ``undo_s``: how long an annotator may take an answer back (it reaches the core tables after that; an
    export makes every answer so far final). ``secure_cookies``: mark the session cookie ``Secure`` (deployments behind TLS; also set when a request
    arrives over https). ``arena_cap``: matches dealt per token and arena (votes and discards alike);
    ``discard_flag``: the share of discarded matches (after ``discard_min`` deals) that flags a token, whose
    votes then leave the leaderboards. ``judge_cache``: the reply cache of routed campaigns' judges (default
    ``$PREFKIT_CACHE/judge-replies.sqlite``, shared with ``prefkit judge``).
    """

    db_path: Path | str
    admin_token: str | None = None
    synchronous: str = "FULL"
    max_batch: int = 512
    max_body_bytes: int = 256 * 1024
    max_upload_bytes: int = 20 * 1024 * 1024
    rate_per_s: float = 20.0
    rate_burst: float = 60.0
    csp: bool = True
    secure_cookies: bool = False
    base_url: str = ""
    media_origins: tuple[str, ...] = field(default_factory=_env_origins)
    undo_s: float = 10.0
    arena_cap: int = 1000
    discard_flag: float = 0.5
    discard_min: int = 20
    judge_cache: Path | str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from prefkit.errors import ValidationError

        self.db_path = Path(self.db_path)
        if self.synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValidationError("synchronous: expected FULL, NORMAL or EXTRA")
        self.synchronous = self.synchronous.upper()
        if self.rate_per_s <= 0 or self.rate_burst < 1:
            raise ValidationError("rate_per_s, rate_burst: must be positive (burst at least 1)")
        self.media_origins = tuple(o.rstrip("/") for o in self.media_origins)
        for o in self.media_origins:
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", o):
                raise ValidationError(f"media_origins: {o!r} is not an origin like https://cdn.example.org")
        if not 0 <= self.undo_s <= 3600:
            raise ValidationError("undo_s: 0 (no undo) to 3600 seconds")
        if self.arena_cap < 1 or not 0 < self.discard_flag <= 1 or self.discard_min < 1:
            raise ValidationError("arena_cap, discard_min: at least 1; discard_flag: a share in (0, 1]")
        if self.max_body_bytes < 1024 or self.max_upload_bytes < self.max_body_bytes:
            raise ValidationError("max_body_bytes: at least 1024, and max_upload_bytes at least as large")
