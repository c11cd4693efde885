"""The app factory: ``create_app(settings)`` wires state, middleware, error handlers, routers, templates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from prefkit._optional import require
from prefkit.service.settings import Settings

HERE = Path(__file__).parent


def create_app(settings: Settings) -> Any:
    """Build the FastAPI app on the SQLite file ``settings.db_path`` (created and migrated if needed)."""
    require("fastapi", "serve")
    require("jinja2", "serve")
    from fastapi.staticfiles import StaticFiles
    from fastapi.templating import Jinja2Templates

    from prefkit import __version__
    from prefkit.service import errors
    from prefkit.service.fastlane import FastLane
    from prefkit.service.plot import svg_plot
    from prefkit.service.routers import admin, arenas, campaigns, docs, lead, routing, sessions
    from prefkit.service.security import LimitsMiddleware
    from prefkit.service.state import ServiceState

    ServiceAPI = _service_api()

    svc = ServiceState(settings)
    svc.arenas.warm()  # every arena's engine, built now; an unreadable row is reported and skipped

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        svc.close()

    app = ServiceAPI(
        title="prefkit service",
        version=__version__,
        description="Human annotation, a live K-wise arena, leaderboards, and an API for judges. "
        "Authenticate with `Authorization: Bearer <token>`.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.svc = svc
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["version"] = __version__
    templates.env.filters["markdown"] = svc.markdown
    templates.env.tests["allowed_media"] = svc.media_ok
    templates.env.filters["plot"] = svg_plot
    from prefkit.service.lead import describe

    templates.env.globals["describe"] = describe
    app.state.templates = templates
    errors.install(app)
    for r in (sessions.router, campaigns.router, arenas.router, admin.router, lead.router, routing.router, docs.router):
        app.include_router(r)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    limits: dict[str, Any] = {
        "max_body": settings.max_body_bytes,
        "max_upload": settings.max_upload_bytes,
        "upload_paths": admin.UPLOAD_PATHS,
        "csp": settings.csp,
        "media_origins": settings.media_origins,
    }
    app.add_middleware(LimitsMiddleware, **limits)
    app.fast_lane = LimitsMiddleware(FastLane(svc), **limits)
    return app


def _service_api() -> Any:
    from fastapi import FastAPI

    from prefkit.service.fastlane import route

    class ServiceAPI(FastAPI):
        """FastAPI, with the fast lane in front (see :mod:`prefkit.service.fastlane`)."""

        fast_lane: Any = None

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if self.fast_lane is not None and not self.dependency_overrides and route(scope) is not None:
                await self.fast_lane(scope, receive, send)
                return
            await super().__call__(scope, receive, send)

    return ServiceAPI


def api_reference(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten an OpenAPI document into one entry per operation, with its body and response schemas as JSON."""
    import json

    schemas = spec.get("components", {}).get("schemas", {})

    def resolve(obj: Any, depth: int = 0) -> Any:
        if isinstance(obj, dict):
            ref = obj.get("$ref")
            if isinstance(ref, str) and depth < 4:
                return resolve(schemas.get(ref.rsplit("/", 1)[-1], {}), depth + 1)
            return {k: resolve(v, depth) for k, v in obj.items() if k not in ("title",)}
        if isinstance(obj, list):
            return [resolve(v, depth) for v in obj]
        return obj

    out = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            responses = []
            for code, r in op.get("responses", {}).items():
                sch = r.get("content", {}).get("application/json", {}).get("schema")
                responses.append(
                    {
                        "code": code,
                        "description": r.get("description", ""),
                        "schema": json.dumps(resolve(sch), indent=2) if sch else "",
                    }
                )
            out.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "tags": op.get("tags", []),
                    "params": [
                        {"name": p["name"], "in": p["in"], "required": p.get("required", False)}
                        for p in op.get("parameters", [])
                    ],
                    "body": json.dumps(resolve(body), indent=2) if body else "",
                    "responses": responses,
                }
            )
    return out
