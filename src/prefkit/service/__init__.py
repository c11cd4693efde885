"""prefkit.service: the web app (annotation campaigns, a live K-wise arena, leaderboards, a JSON API).

Build it with :func:`create_app` (FastAPI app factory) or run ``prefkit serve --db project.db``.

Every acknowledged answer and arena vote also becomes a judgment in the project store's tables of the same
file (:mod:`prefkit.service.core`), so ``prefkit export --db project.db out.jsonl`` and ``prefkit rank`` see
them; the admin exports (prefkit JSONL, TRL) are written by :func:`prefkit.data.io.write`. The hot API calls
take a pure-ASGI fast lane (:mod:`prefkit.service.fastlane`).
"""

from __future__ import annotations

from typing import Any

from prefkit.service.settings import Settings

__all__ = ["Settings", "create_app"]


def create_app(settings: Settings) -> Any:
    from prefkit.service.app import create_app as _create

    return _create(settings)
