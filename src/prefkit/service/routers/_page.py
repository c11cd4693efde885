"""Template helper shared by the page routers."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from prefkit.service.repo import Principal


def page(
    request: Request, name: str, who: Principal | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    svc = request.app.state.svc
    context.update(principal=who, csrf=svc.csrf(who.token_hash) if who else "")
    return request.app.state.templates.TemplateResponse(request, name, context, status_code=status_code)  # type: ignore[no-any-return]
