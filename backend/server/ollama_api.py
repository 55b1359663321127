"""Ollama-compatible routes, enough for the official ``ollama`` client:
``/api/tags``, ``/api/chat`` and ``/api/generate`` (NDJSON streaming by
default, one object with ``"stream": false``), ``/api/embed``,
``/api/version``. Errors are Ollama's ``{"error": "..."}``.
``"documents": true`` or a ``+docs`` model name answers from the indexed
folders; the final object then carries ``"citations"``.

``tools`` on ``/api/chat`` work as the ``ollama`` client expects: a call
comes back as ``message.tool_calls`` (``[{"function": {"name",
"arguments": {...}}}]``, arguments an object), the client runs it and sends
a ``tool`` message; the next request answers from it. Nothing is run here.

``format`` (``"json"`` or a JSON schema) on ``/api/chat`` and
``/api/generate`` constrains the reply to JSON (to the schema) and the
reply is validated when done: one that does not match is an error (502, or
an ``error`` line when streaming), an invalid schema a 400.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from backend import Backend
from backend.runtimes.base import ChatMessage, GenerationParams
from backend.server import completion
from backend.server.client_tools import api_tools
from backend.server.errors import ApiError
from backend.server.messages import read_messages
from backend.server.parsing import (
    ChatCall,
    field,
    model_name,
    ollama_format,
    params,
    read_json,
    texts,
    with_schema,
)

VERSION = "0.6.0"


def _backend(request: Request) -> Backend:
    return request.app.state.backend


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _final(summary: completion.Summary) -> dict[str, Any]:
    u = summary.usage
    reason = "length" if summary.stop == "length" else "stop"  # Ollama's, also for calls
    out: dict[str, Any] = {"done": True, "done_reason": reason}
    if u is not None:
        out |= {
            "total_duration": int(u.total_ms * 1e6),
            "prompt_eval_count": u.prompt_tokens,
            "eval_count": u.completion_tokens,
            "eval_duration": int(max(u.total_ms - u.ttft_ms, 0) * 1e6),
        }
    if summary.sources:
        out["citations"] = summary.citations()
    return out


async def version(request: Request) -> Response:
    return JSONResponse({"version": VERSION})


async def tags(request: Request) -> Response:
    models = await _backend(request).models.list_models()
    out = [
        {
            "name": m.name,
            "model": m.name,
            "modified_at": _now(),
            "size": m.size_bytes or 0,
            "digest": "",
            "details": {"format": "gguf" if m.path else "", "family": m.runtime},
        }
        for m in models
    ]
    return JSONResponse({"models": out})


async def _call(request: Request, chat: bool) -> tuple[ChatCall, str]:
    backend = _backend(request)
    body = await read_json(request)
    model, docs = model_name(body)
    tools = None
    if chat:
        read = read_messages(body)
        msgs, tools = read.prompt, api_tools(body, read)
    else:
        prompt = field(body, "prompt", str, "")
        system = field(body, "system", str, "")
        if not prompt.strip():
            raise ApiError(422, "'prompt' must be a non-empty string")
        msgs = ([ChatMessage("system", system)] if system else []) + [ChatMessage("user", prompt)]
    g = backend.settings.generation
    call = ChatCall(
        model=model,
        documents=docs,
        messages=msgs,
        params=with_schema(
            params(body, GenerationParams(g.max_tokens, g.temperature, g.top_p, g.seed)),
            ollama_format(body),
        ),
        stream=bool(field(body, "stream", bool, True)),
        tools=tools,
    )
    name = field(body, "model", str) or (await backend.models.default_model()).name
    return call, name


async def _answer(request: Request, chat: bool) -> Response:
    call, name = await _call(request, chat)
    backend = _backend(request)

    def piece(text: str, summary: completion.Summary | None = None) -> dict[str, Any]:
        base = {"model": name, "created_at": _now()}
        if chat:
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if summary is not None and summary.tool_calls:
                message["tool_calls"] = [
                    {"function": {"name": c.name, "arguments": c.arguments}}
                    for c in summary.tool_calls
                ]
            return base | {"message": message}
        return base | {"response": text}

    if not call.stream:
        text, summary = await completion.complete(backend, call)
        return JSONResponse(piece(text, summary) | _final(summary))
    stream = await completion.start(backend, call)

    async def lines() -> AsyncIterator[str]:
        summary = completion.Summary()
        async for text in completion.pieces(stream, summary):
            yield json.dumps(piece(text) | {"done": False}) + "\n"
        if summary.error is not None:
            yield json.dumps({"error": f"the model failed: {summary.error}"}) + "\n"
            return
        if summary.tool_calls:
            yield json.dumps(piece("", summary) | {"done": False}) + "\n"
        yield json.dumps(piece("") | _final(summary)) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


async def chat(request: Request) -> Response:
    return await _answer(request, chat=True)


async def generate(request: Request) -> Response:
    return await _answer(request, chat=False)


async def embed(request: Request) -> Response:
    body = await read_json(request)
    inputs = texts(body, "input")
    try:
        name, vectors, tokens = await _backend(request).completions.embed_texts(inputs)
    except Exception as err:
        raise ApiError(503, f"embedding failed: {err}") from None
    return JSONResponse(
        {
            "model": field(body, "model", str) or name,
            "embeddings": vectors,
            "prompt_eval_count": tokens,
        }
    )


routes = [
    Route("/api/version", version, methods=["GET"]),
    Route("/api/tags", tags, methods=["GET"]),
    Route("/api/chat", chat, methods=["POST"]),
    Route("/api/generate", generate, methods=["POST"]),
    Route("/api/embed", embed, methods=["POST"]),
]
