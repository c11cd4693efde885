"""Error responses: a JSON object for the API, a plain page for browsers, never a traceback."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from prefkit.errors import (
    ConflictError,
    EngineError,
    InputError,
    MissingDependencyError,
    NotFoundError,
    PermissionDeniedError,
    PrefkitError,
    StoreError,
    ValidationError,
)

log = logging.getLogger("prefkit.service")


def status_of(exc: PrefkitError) -> int:
    """The HTTP status of a library error (the hierarchy lives in :mod:`prefkit.errors`)."""
    from prefkit.service.campaigns import AnswerInvalid

    if isinstance(exc, AnswerInvalid):
        return 422
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, PermissionDeniedError):
        return 403
    if isinstance(exc, (ValidationError, InputError)):
        return 400
    if isinstance(exc, (StoreError, MissingDependencyError, EngineError)):
        return 503
    return 400


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def error_response(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    if wants_html(request):
        templates = request.app.state.templates
        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": status, "message": message, "principal": None},
            status_code=status,
            headers=headers,
        )
    return JSONResponse(
        {"error": {"status": status, "message": message}}, status_code=status, headers=headers
    )


def validation_message(errors: Sequence[Any]) -> str:
    """One line naming the first (up to 5) invalid fields of a request body."""
    parts = []
    for e in list(errors)[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, 422, validation_message(exc.errors()))

    @app.exception_handler(PrefkitError)
    async def _prefkit(request: Request, exc: PrefkitError) -> Response:
        return error_response(request, status_of(exc), str(exc))

    @app.exception_handler(RecursionError)
    async def _deep(request: Request, exc: RecursionError) -> Response:
        return error_response(request, 400, "request body: JSON nested too deeply")

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> Response:
        return error_response(request, 422, "a number is out of range (ids are below 2**63)")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            request, 500, "internal error: the request was not completed (see the server log)"
        )
