"""The backend's API over HTTP, for ``assistant --connect`` (``backend.remote``).

Every route is derived from the contract (``backend.api.contract``, read
by ``backend.api.spec``); nothing here names a method. Routes, behind the
same ``security.Guard`` as the OpenAI/Ollama APIs:

- ``GET /backend/session``: the contract's session values (``settings``,
  ``unavailable``), read once by a connecting client;
- ``POST /backend/call/{service}/{method}``: one call (``call``,
  ``background`` and ``handle`` kinds); the body is a JSON object of keyword
  arguments encoded with ``backend.api.wire``; the answer ``{"result": ...}``
  (for a handle: the job's descriptor, ``backend.server.rpc_jobs``);
- ``POST /backend/stream/{service}/{method}``: a call whose answer is a
  stream (``stream`` and ``job`` kinds), as NDJSON lines: first
  ``{"stream": id, ...}``, then ``{"event": ...}`` per event (a reply's
  events, a job's progress arguments), then ``{"result": ...}`` (jobs) or
  ``{"end": true}`` (replies); an error mid-stream is an ``{"error": ...}``
  line; ``{}`` is a heartbeat;
- ``POST /backend/control/{id}/{action}``: ``cancel``, ``pause``/``resume``
  (jobs that take ``paused``) and ``answer_tool`` (``{"call_id", "choice"}``)
  for a stream in flight. Closing the HTTP stream cancels it too;
- ``/backend/jobs/...``: following and cancelling jobs that outlive their
  call (``backend.server.rpc_jobs``).

Only the contract's service methods are served: never ``start``/``close``,
a private name or anything else (404). Arguments are decoded with the
contract's codec and then validated against the Protocol's own type hints,
so a peer can neither build an unknown type nor smuggle a wrong one into
the store. Callback and event parameters never travel: jobs get server-side
ones wired to the NDJSON stream and the control route.

Errors: the allowed ones (``backend.api.errors.ERRORS``) become 4xx
``{"error": {"type", "title", "message"}}``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from backend.api import spec
from backend.api.errors import ERRORS, encode_error, status_for
from backend.api.wire import Codec, for_contract
from backend.chat.reply import ReplyStream
from backend.common.errors import AssistantError, NotFoundError
from backend.server.rpc_jobs import JobFeeds
from backend.server.rpc_ndjson import Live, ndjson

PROTOCOL = 2
CHOICES = ("once", "conversation", "deny")


class _BadCall(Exception):
    def __init__(self, status: int, err: Exception) -> None:
        super().__init__(str(err))
        self.status, self.err = status, err


def error_response(status: int, err: BaseException) -> JSONResponse:
    return JSONResponse({"error": encode_error(err)}, status)


class RpcApi:
    """The routes serving ``contract`` from ``request.app.state.backend``."""

    def __init__(self, contract: type[Any]) -> None:
        self.contract = contract
        self.codec: Codec = for_contract(contract)
        self.endpoints = spec.endpoints(contract)
        self._live: dict[str, Live] = {}
        self.jobs = JobFeeds(self.codec)

    @property
    def routes(self) -> list[Route]:
        return [
            Route("/backend/session", self.session, methods=["GET"]),
            Route("/backend/call/{service}/{method}", self.call, methods=["POST"]),
            Route("/backend/stream/{service}/{method}", self.stream, methods=["POST"]),
            Route("/backend/control/{stream_id}/{action}", self.control, methods=["POST"]),
            *self.jobs.routes,
        ]

    # helpers -----------------------------------------------------------------
    def _endpoint(self, request: Request, kinds: tuple[str, ...]) -> spec.Endpoint:
        key = (request.path_params["service"], request.path_params["method"])
        endpoint = self.endpoints.get(key)
        if endpoint is None or endpoint.kind not in kinds:
            raise _BadCall(404, NotFoundError(f"no backend method {'.'.join(key)}"))
        return endpoint

    def _bound(self, request: Request, endpoint: spec.Endpoint) -> Callable[..., Any]:
        service = getattr(request.app.state.backend, endpoint.service)
        method: Callable[..., Any] = getattr(service, endpoint.name)
        return method

    async def _arguments(self, request: Request, endpoint: spec.Endpoint) -> dict[str, Any]:
        body = await request.body()
        name = f"{endpoint.service}.{endpoint.name}()"
        try:
            raw = json.loads(body) if body.strip() else {}
        except ValueError as err:
            raise _BadCall(400, ValueError(f"the body is not JSON: {err}")) from err
        if not isinstance(raw, dict):
            raise _BadCall(400, ValueError("the body must be a JSON object of keyword arguments"))
        try:
            given = self.codec.decode(raw)
        except AssistantError as err:
            raise _BadCall(400, err) from err
        params = {p.name: p for p in endpoint.params}
        unknown = set(given) - set(params)
        if unknown:
            raise _BadCall(400, ValueError(f"{name} has no parameter {', '.join(sorted(unknown))}"))
        missing = [p.name for p in endpoint.params if p.required and p.name not in given]
        if missing:
            raise _BadCall(400, ValueError(f"{name} needs {', '.join(missing)}"))
        kwargs = {}
        for key, value in given.items():
            try:
                kwargs[key] = params[key].validator.validate_python(value)
            except ValidationError as err:
                msg = err.errors()[0]["msg"] if err.errors() else str(err)
                raise _BadCall(400, ValueError(f"{name}: {key}: {msg}")) from err
        return kwargs

    # routes ------------------------------------------------------------------
    async def session(self, request: Request) -> Response:
        backend = request.app.state.backend
        values: dict[str, Any] = {}
        for name in spec.session_values(self.contract):
            value = getattr(backend, name)
            if isinstance(value, BaseModel):
                values[name] = value.model_dump(mode="json")
            else:
                values[name] = self.codec.encode(value)
        return JSONResponse({"protocol": PROTOCOL, "values": values})

    async def call(self, request: Request) -> Response:
        try:
            endpoint = self._endpoint(request, ("call", "background", "handle"))
            kwargs = await self._arguments(request, endpoint)
            result = self._bound(request, endpoint)(**kwargs)
            if inspect.isawaitable(result):
                result = await result
        except _BadCall as bad:
            return error_response(bad.status, bad.err)
        except tuple(ERRORS.values()) as err:
            return error_response(status_for(err), err)
        if endpoint.kind == "handle":
            return JSONResponse({"result": self.jobs.describe(result)})
        return JSONResponse({"result": self.codec.encode(result)})

    async def stream(self, request: Request) -> Response:
        sid = secrets.token_urlsafe(16)
        try:
            endpoint = self._endpoint(request, ("stream", "job"))
            kwargs = await self._arguments(request, endpoint)
            method = self._bound(request, endpoint)
            if endpoint.kind == "stream":
                reply: ReplyStream = await method(**kwargs)
                live = Live(cancel=reply.cancel, reply=reply)
                source = self._reply_items(sid, reply)
            else:
                live, source = self._job(sid, endpoint, method, kwargs)
        except _BadCall as bad:
            return error_response(bad.status, bad.err)
        except tuple(ERRORS.values()) as err:
            return error_response(status_for(err), err)
        self._live[sid] = live

        def forget() -> None:
            self._live.pop(sid, None)

        body = ndjson(source, live, forget)
        return StreamingResponse(body, media_type="application/x-ndjson")

    async def control(self, request: Request) -> Response:
        live = self._live.get(request.path_params["stream_id"])
        action = request.path_params["action"]
        if live is None:
            return error_response(404, NotFoundError("no such stream (it has ended)"))
        try:
            if action == "cancel":
                live.cancel()
            elif action in ("pause", "resume") and live.paused is not None:
                (live.paused.set if action == "pause" else live.paused.clear)()
            elif action == "answer_tool" and live.reply is not None:
                raw = json.loads(await request.body() or b"{}")
                if not isinstance(raw, dict):
                    raise ValueError("the body must be {call_id, choice}")
                choice = raw.get("choice")
                if choice not in CHOICES:
                    raise ValueError(f"unknown choice {choice!r}: once, conversation or deny")
                live.reply.answer_tool(str(raw.get("call_id", "")), choice)
            else:
                return error_response(404, NotFoundError(f"no action {action!r} for this stream"))
        except ValueError as err:
            return error_response(400, err)
        return JSONResponse({"result": None})

    # stream sources ----------------------------------------------------------
    async def _reply_items(self, sid: str, reply: ReplyStream) -> AsyncIterator[dict[str, Any]]:
        yield {
            "stream": sid,
            "conversation_id": reply.conversation_id,
            "approvals": reply.takes_approvals,
        }
        async for event in reply:
            yield {"event": self.codec.encode(event)}
        yield {"end": True}

    def _job(
        self,
        sid: str,
        endpoint: spec.Endpoint,
        method: Callable[..., Any],
        kwargs: dict[str, Any],
    ) -> tuple[Live, AsyncIterator[dict[str, Any]]]:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        cancel = threading.Event()
        extra: dict[str, Any] = {
            "progress": lambda *args: loop.call_soon_threadsafe(events.put_nowait, args)
        }
        live = Live(cancel=cancel.set)
        if "cancel" in endpoint.server_side:
            extra["cancel"] = cancel
        if "paused" in endpoint.server_side:
            live.paused = extra["paused"] = threading.Event()
        return live, self._job_items(sid, method, {**kwargs, **extra}, events, cancel)

    async def _job_items(
        self,
        sid: str,
        method: Callable[..., Any],
        kwargs: dict[str, Any],
        events: asyncio.Queue[tuple[Any, ...]],
        cancel: threading.Event,
    ) -> AsyncIterator[dict[str, Any]]:
        yield {"stream": sid}
        job = asyncio.ensure_future(method(**kwargs))
        try:
            while True:
                getter = asyncio.ensure_future(events.get())
                await asyncio.wait({job, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield {"event": self.codec.encode(list(getter.result()))}
                    continue
                getter.cancel()
                while not events.empty():
                    yield {"event": self.codec.encode(list(events.get_nowait()))}
                yield {"result": self.codec.encode(job.result())}
                return
        finally:
            if not job.done():
                cancel.set()
                await asyncio.wait({job})


def routes_for(contract: type[Any]) -> list[Route]:
    """Every RPC route of ``contract``."""
    return RpcApi(contract).routes


__all__ = ["PROTOCOL", "RpcApi", "error_response", "routes_for"]
