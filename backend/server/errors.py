"""API errors: everything a client got wrong becomes a clear 4xx JSON body,
never a 500. OpenAI routes answer ``{"error": {"message", "type", "code"}}``;
Ollama routes answer ``{"error": "message"}`` as Ollama does (its client
shows that string)."""

from __future__ import annotations

from starlette.responses import JSONResponse


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


def openai_error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status)


def ollama_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)
