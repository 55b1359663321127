"""The ASGI app: routes of both APIs behind ``security.Guard``.

``create_app`` takes an opened ``Backend`` (the caller owns its life
cycle). Client mistakes become 4xx JSON (``ApiError``), unknown paths 404,
wrong methods 405; an unexpected bug is a JSON 500 that names no secret.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from backend import Backend
from backend.api.contract import AssistantAPI
from backend.server import ollama_api, openai_api
from backend.server.errors import ApiError, ollama_error, openai_error
from backend.server.rpc import routes_for
from backend.server.security import DEFAULT_MAX_BODY, Guard

log = logging.getLogger(__name__)


def _render(request: Request, status: int, message: str, kind: str) -> Response:
    if request.url.path.startswith("/api/"):
        return ollama_error(status, message)
    return openai_error(status, message, kind)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _render(request, exc.status, exc.message, exc.kind)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _render(request, exc.status_code, str(exc.detail), "invalid_request_error")


async def _crash(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error serving %s", request.url.path)
    return _render(request, 500, f"internal error: {type(exc).__name__}", "server_error")


def create_app(
    backend: Backend,
    token: str,
    allowed_origins: tuple[str, ...] = (),
    max_body: int = DEFAULT_MAX_BODY,
) -> Any:
    app = Starlette(
        routes=[*openai_api.routes, *ollama_api.routes, *routes_for(AssistantAPI)],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _crash,
        },
    )
    app.state.backend = backend
    return Guard(app, token, allowed_origins, max_body)
