"""``/docs``: the OpenAPI reference rendered on the server (offline, CSP-safe: no external or inline script)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

router = APIRouter(tags=["docs"])


@router.get("/docs", include_in_schema=False)
async def docs(request: Request) -> Response:
    from prefkit.service.app import api_reference

    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "docs.html", {"principal": None, "ops": api_reference(request.app.openapi())}
    )
