"""Settings of the web service (one dataclass; ``prefkit serve`` fills it from its flags)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Settings:
    """How the service runs.

    ``admin_token``: the admin's secret; when ``None`` the one stored in the project file is used (created
    on first start). ``synchronous``: SQLite's durability level for the vote writer (``FULL`` survives power
    loss; ``NORMAL`` with WAL survives a killed process). ``rate_per_s`` / ``rate_burst``: per-token token
    bucket. ``csp``: send a strict Content-Security-Policy (turn off only to test the sanitiser alone).
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
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from prefkit.errors import ValidationError

        self.db_path = Path(self.db_path)
        if self.synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValidationError("synchronous: expected FULL, NORMAL or EXTRA")
        self.synchronous = self.synchronous.upper()
        if self.rate_per_s <= 0 or self.rate_burst < 1:
            raise ValidationError("rate_per_s, rate_burst: must be positive (burst at least 1)")
        if self.max_body_bytes < 1024 or self.max_upload_bytes < self.max_body_bytes:
            raise ValidationError("max_body_bytes: at least 1024, and max_upload_bytes at least as large")
