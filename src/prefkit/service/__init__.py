"""prefkit.service: the web app (annotation campaigns, a live K-wise arena, leaderboards, a JSON API).

Build it with :func:`create_app` (FastAPI app factory) or run ``prefkit serve --db project.db``.
"""

from __future__ import annotations

from typing import Any

from prefkit.service.settings import Settings

__all__ = ["Settings", "create_app"]


def create_app(settings: Settings) -> Any:
    from prefkit.service.app import create_app as _create

    return _create(settings)
