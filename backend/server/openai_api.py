"""OpenAI-compatible routes: ``/v1/models``, ``/v1/chat/completions``
(JSON or SSE ``data:`` chunks ending ``data: [DONE]``, usage in the last
chunk), ``/v1/embeddings`` (the knowledge base's embedder).

Extras beyond OpenAI's schema: ``"documents": true`` (or a model name
ending ``+docs``) answers from the indexed folders, and the response (last
chunk when streaming) carries ``"citations"``: the sources given to the
model, each marked ``cited`` when the answer cites ``[Sn]``.

``response_format`` (``json_object``, ``json_schema``) constrains the reply
to JSON (to the schema) and the reply is validated when done: one that does
not match is a 502 (streamed: an error chunk), an invalid schema a 400.

``tools`` work as OpenAI clients expect: the model may answer with a call
(``message.tool_calls``, ``content`` null, ``finish_reason:
"tool_calls"``; streaming: one chunk with the ``tool_calls`` delta, then
the finish chunk), which the client runs and answers with a ``tool``
message; the next request answers from that result in text. Nothing is
ever run here (``backend.server.client_tools``, ``backend.chat.api_tools``).
"""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from backend import Backend
from backend.runtimes.base import GenerationParams
from backend.server import completion
from backend.server.client_tools import api_tools
from backend.server.errors import ApiError
from backend.server.messages import read_messages
from backend.server.parsing import (
    ChatCall,
    field,
    model_name,
    params,
    read_json,
    response_format,
    texts,
    with_schema,
)


def _backend(request: Request) -> Backend:
    return request.app.state.backend


def _defaults(backend: Backend) -> GenerationParams:
    g = backend.settings.generation
    return GenerationParams(g.max_tokens, g.temperature, g.top_p, g.seed)


def _usage(summary: completion.Summary) -> dict[str, int]:
    u = summary.usage
    p, c = (u.prompt_tokens, u.completion_tokens) if u else (0, 0)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _tool_calls(summary: completion.Summary, indexed: bool = False) -> list[dict[str, Any]]:
    return [
        {
            **({"index": i} if indexed else {}),
            "id": c.call_id,
            "type": "function",
            "function": {"name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)},
        }
        for i, c in enumerate(summary.tool_calls)
    ]


def _message(text: str, summary: completion.Summary) -> dict[str, Any]:
    if summary.tool_calls:
        return {"role": "assistant", "content": None, "tool_calls": _tool_calls(summary)}
    return {"role": "assistant", "content": text}


async def list_models(request: Request) -> Response:
    models = await _backend(request).models.list_models()
    data = [{"id": m.name, "object": "model", "created": 0, "owned_by": m.runtime} for m in models]
    return JSONResponse({"object": "list", "data": data})


async def chat_completions(request: Request) -> Response:
    backend = _backend(request)
    body = await read_json(request)
    model, docs = model_name(body)
    msgs = read_messages(body)
    call = ChatCall(
        model=model,
        documents=docs,
        messages=msgs.prompt,
        params=with_schema(params(body, _defaults(backend)), response_format(body)),
        stream=bool(field(body, "stream", bool, False)),
        tools=api_tools(body, msgs),
    )
    cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    if not call.stream:
        text, summary = await completion.complete(backend, call)
        name = call.model or (await backend.models.default_model()).name
        return JSONResponse(
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": name,
                "choices": [
                    {
                        "index": 0,
                        "message": _message(text, summary),
                        "finish_reason": summary.finish_reason,
                    }
                ],
                "usage": _usage(summary),
                "citations": summary.citations(),
            }
        )
    stream = await completion.start(backend, call)
    name = call.model or (await backend.models.default_model()).name

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        obj = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(obj)}\n\n"

    async def events() -> AsyncIterator[str]:
        summary = completion.Summary()
        role: dict[str, Any] = {"role": "assistant"}
        async for piece in completion.pieces(stream, summary):
            yield chunk(role | {"content": piece})
            role = {}
        if summary.tool_calls:
            yield chunk(role | {"content": None, "tool_calls": _tool_calls(summary, True)})
        elif role:
            yield chunk(role | {"content": ""})
        if summary.error is not None:
            err = {"message": f"the model failed: {summary.error}", "type": "model_error"}
            yield f"data: {json.dumps({'error': err})}\n\n"
        yield chunk(
            {},
            summary.finish_reason,
            usage=_usage(summary),
            citations=summary.citations(),
        )
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


async def embeddings(request: Request) -> Response:
    body = await read_json(request)
    inputs = texts(body, "input")
    encoding = field(body, "encoding_format", str, "float")
    if encoding not in ("float", "base64"):
        raise ApiError(422, "'encoding_format' must be 'float' or 'base64'")
    try:
        name, vectors, tokens = await _backend(request).completions.embed_texts(inputs)
    except Exception as err:  # a missing model is the server's state, say so
        raise ApiError(503, f"embedding failed: {err}", "embedding_error") from None

    def encode(v: list[float]) -> list[float] | str:
        # base64: little-endian float32, what the openai client asks for by default
        if encoding == "float":
            return v
        return base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode()

    data = [
        {"object": "embedding", "index": i, "embedding": encode(v)} for i, v in enumerate(vectors)
    ]
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "model": name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


routes = [
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/embeddings", embeddings, methods=["POST"]),
]
