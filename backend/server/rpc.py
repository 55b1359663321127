"""The ``Backend`` facade over HTTP, for ``assistant --connect`` (``backend.remote``).

Routes (behind the same ``security.Guard`` as the OpenAI/Ollama APIs):

- ``GET /backend/session``: what a client reads synchronously afterwards --
  the server's settings (``Settings.model_dump(mode="json")``) and its
  unavailable runtimes.
- ``POST /backend/{method}``: one call; the body is a JSON object of keyword
  arguments encoded with ``backend.wire``; the answer ``{"result": ...}``.
- ``POST /backend/stream/{method}``: a call whose answer is a stream, as
  NDJSON lines: first ``{"stream": id, ...}``, then ``{"event": ...}`` per
  event, then ``{"result": ...}`` (jobs) or ``{"end": true}`` (chat); an
  error mid-stream is an ``{"error": ...}`` line; ``{}`` is a heartbeat
  while nothing happens (a model loading, an approval pending), so a client
  gone away is noticed and a reading client's timeout does not fire.
- ``POST /backend/stream/{id}/{action}``: ``cancel``, ``pause``/``resume``
  (indexing) and ``answer_tool`` (``{"call_id", "choice"}``) for a stream in
  flight. Closing the HTTP stream cancels it too.

Only explicitly allow-listed methods are served (``CALLS``, ``STREAMS``,
``JOBS``): what the TUI uses, never ``close``, ``start``, a private or a
sync-internal name; anything else is 404. Arguments are decoded with the
wire registry and then validated against the method's own type hints
(pydantic ``TypeAdapter``), so a peer can neither build an unknown type
nor smuggle a wrong one into the store. Parameters that are callbacks or
``threading.Event``s (``progress``, ``cancel``, ``paused``, ``on_swept``)
cannot travel: jobs get server-side ones wired to the NDJSON stream and the
control route, and ``watch_folders`` watches without reporting its sweeps.

Tune-ups (``start_tuneup`` and following a job) have their own routes,
``/backend/tuneup/...`` (``backend.server.rpc_tuneup``): a job outlives
the HTTP stream that started it.

Errors: ``AssistantError`` subclasses and ``ValueError`` become 4xx
``{"error": {"type", "title", "message"}}`` (``backend.wire_errors``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import secrets
import threading
import typing
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from backend import Backend
from backend.chat.stream import ChatStream
from backend.common.errors import AssistantError, NotFoundError
from backend.wire import decode, encode
from backend.wire_errors import encode_error, status_for

log = logging.getLogger(__name__)

CALLS = frozenset(
    {
        # conversations, presets, state, telemetry
        "list_conversations",
        "get_conversation",
        "create_conversation",
        "rename_conversation",
        "delete_conversation",
        "set_conversation_model",
        "set_conversation_preset",
        "set_system_prompt",
        "thread",
        "switch_branch",
        "search_messages",
        "rate",
        "edit_reply",
        "presets",
        "save_preset",
        "delete_preset",
        "get_state",
        "set_state",
        "stats",
        "request_log",
        "request",
        # models and chat control
        "list_models",
        "runtime_status",
        "default_model",
        "cancel",
        # documents
        "add_folder",
        "remove_folder",
        "folders",
        "documents",
        "search_documents",
        "watch_folders",
        "documents_enabled",
        "set_conversation_documents",
        "message_sources",
        "source_view",
        "flagged_documents",
        # tools
        "tools_enabled",
        "tools_supported",
        "set_conversation_tools",
        "message_tool_calls",
        # evaluation
        "eval_runs",
        "eval_questions",
        # tune-ups (start_tuneup streams: backend.server.rpc_tuneup)
        "list_adapters",
        "activate_adapter",
        "deactivate_adapter",
        "cancel_tuneup",
    }
)
STREAMS = frozenset({"send", "regenerate", "edit_and_resend"})
"""Methods returning a ``ChatStream``."""
JOBS: dict[str, tuple[str, ...]] = {
    "index": ("progress", "cancel", "paused"),
    "eval_own": ("progress", "cancel"),
}
"""Long calls with a progress callback: streamed, with these server-side parameters."""
SERVER_SIDE: dict[str, tuple[str, ...]] = {**JOBS, "watch_folders": ("on_swept",)}
"""Parameters a client may not send (callbacks, events)."""
HEARTBEAT_S = 1.0
PROTOCOL = 1


class _BadCall(Exception):
    def __init__(self, status: int, err: Exception) -> None:
        super().__init__(str(err))
        self.status, self.err = status, err


@dataclass
class Live:
    """A stream in flight, for the control route."""

    cancel: Callable[[], None]
    chat: ChatStream | None = None
    paused: threading.Event | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


def _error(status: int, err: BaseException) -> JSONResponse:
    return JSONResponse({"error": encode_error(err)}, status)


def _backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


def _live(request: Request) -> dict[str, Live]:
    state = request.app.state
    if not hasattr(state, "rpc_streams"):
        state.rpc_streams = {}
    streams: dict[str, Live] = state.rpc_streams
    return streams


@cache
def _adapters(name: str) -> dict[str, tuple[TypeAdapter[Any], bool]]:
    """Per parameter of ``Backend.<name>``: a validator, and whether it is required."""
    fn = getattr(Backend, name)
    hints = typing.get_type_hints(fn)
    out = {}
    for p in list(inspect.signature(fn).parameters.values())[1:]:
        if p.name in SERVER_SIDE.get(name, ()):
            continue
        out[p.name] = (TypeAdapter(hints[p.name]), p.default is inspect.Parameter.empty)
    return out


async def _arguments(request: Request, name: str) -> dict[str, Any]:
    body = await request.body()
    try:
        raw = json.loads(body) if body.strip() else {}
    except ValueError as err:
        raise _BadCall(400, ValueError(f"the body is not JSON: {err}")) from err
    if not isinstance(raw, dict):
        raise _BadCall(400, ValueError("the body must be a JSON object of keyword arguments"))
    try:
        given = decode(raw)
    except AssistantError as err:
        raise _BadCall(400, err) from err
    params = _adapters(name)
    unknown = set(given) - set(params)
    if unknown:
        raise _BadCall(400, ValueError(f"{name}() has no parameter {', '.join(sorted(unknown))}"))
    missing = [p for p, (_, required) in params.items() if required and p not in given]
    if missing:
        raise _BadCall(400, ValueError(f"{name}() needs {', '.join(missing)}"))
    kwargs = {}
    for key, value in given.items():
        try:
            kwargs[key] = params[key][0].validate_python(value)
        except ValidationError as err:
            msg = err.errors()[0]["msg"] if err.errors() else str(err)
            raise _BadCall(400, ValueError(f"{name}(): {key}: {msg}")) from err
    return kwargs


async def session(request: Request) -> Response:
    backend = _backend(request)
    return JSONResponse(
        {
            "protocol": PROTOCOL,
            "settings": backend.settings.model_dump(mode="json"),
            "unavailable": encode(list(backend.unavailable)),
        }
    )


async def call(request: Request) -> Response:
    name = request.path_params["method"]
    if name not in CALLS:
        return _error(404, NotFoundError(f"no backend method {name!r}"))
    try:
        kwargs = await _arguments(request, name)
        result = getattr(_backend(request), name)(**kwargs)
        if inspect.isawaitable(result):
            result = await result
    except _BadCall as bad:
        return _error(bad.status, bad.err)
    except (AssistantError, ValueError) as err:
        return _error(status_for(err), err)
    return JSONResponse({"result": encode(result)})


def _ndjson(
    source: AsyncIterator[dict[str, Any]], live: Live, forget: Callable[[], None]
) -> AsyncIterator[bytes]:
    """Lines of ``source`` with heartbeats. ``source`` runs in its own task,
    so a client leaving only cancels (``live.cancel``): the reply still ends
    and is stored."""
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put(item)
        except (AssistantError, ValueError) as err:
            await queue.put({"error": encode_error(err)})
        except Exception as err:  # a bug: logged, reported without detail
            log.exception("backend stream failed")
            message = f"internal error: {type(err).__name__}"
            await queue.put({"error": {"type": "AssistantError", "title": "Server error",
                                       "message": message}})  # fmt: skip
        finally:
            forget()
            await queue.put(None)

    task = asyncio.create_task(pump())
    live.tasks.add(task)
    task.add_done_callback(live.tasks.discard)

    async def lines() -> AsyncIterator[bytes]:
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    yield b"{}\n"
                    continue
                if item is None:
                    return
                yield (json.dumps(item) + "\n").encode()
        finally:
            if not task.done():
                live.cancel()  # the client went away

    return lines()


async def _chat_items(sid: str, chat: ChatStream) -> AsyncIterator[dict[str, Any]]:
    yield {
        "stream": sid,
        "conversation_id": chat.conversation_id,
        "approvals": chat.approvals is not None,
    }
    async for event in chat:
        yield {"event": encode(event)}
    yield {"end": True}


async def _job_items(
    sid: str, run: Callable[..., Any], extra: dict[str, Any], events: asyncio.Queue[Any]
) -> AsyncIterator[dict[str, Any]]:
    yield {"stream": sid}
    job = asyncio.ensure_future(run(**extra))
    try:
        while True:
            getter = asyncio.ensure_future(events.get())
            await asyncio.wait({job, getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield {"event": encode(getter.result())}
                continue
            getter.cancel()
            while not events.empty():
                yield {"event": encode(events.get_nowait())}
            yield {"result": encode(job.result())}
            return
    finally:
        if not job.done():
            extra["cancel"].set()
            await asyncio.wait({job})


async def stream(request: Request) -> Response:
    name = request.path_params["method"]
    if name not in STREAMS and name not in JOBS:
        return _error(404, NotFoundError(f"no backend stream {name!r}"))
    backend = _backend(request)
    streams = _live(request)
    sid = secrets.token_urlsafe(16)
    try:
        kwargs = await _arguments(request, name)
        if name in STREAMS:
            chat: ChatStream = await getattr(backend, name)(**kwargs)
            live = Live(cancel=chat.cancel, chat=chat)
            source = _chat_items(sid, chat)
        else:
            loop = asyncio.get_running_loop()
            events: asyncio.Queue[Any] = asyncio.Queue()
            cancel = threading.Event()
            extra: dict[str, Any] = {
                **kwargs,
                "progress": lambda p: loop.call_soon_threadsafe(events.put_nowait, p),
                "cancel": cancel,
            }
            live = Live(cancel=cancel.set)
            if "paused" in JOBS[name]:
                live.paused = extra["paused"] = threading.Event()
            source = _job_items(sid, getattr(backend, name), extra, events)
    except _BadCall as bad:
        return _error(bad.status, bad.err)
    except (AssistantError, ValueError) as err:
        return _error(status_for(err), err)
    streams[sid] = live

    def forget() -> None:
        streams.pop(sid, None)

    body = _ndjson(source, live, forget)
    return StreamingResponse(body, media_type="application/x-ndjson")


async def control(request: Request) -> Response:
    live = _live(request).get(request.path_params["stream_id"])
    action = request.path_params["action"]
    if live is None:
        return _error(404, NotFoundError("no such stream (it has ended)"))
    try:
        if action == "cancel":
            live.cancel()
        elif action in ("pause", "resume") and live.paused is not None:
            (live.paused.set if action == "pause" else live.paused.clear)()
        elif action == "answer_tool" and live.chat is not None:
            raw = json.loads(await request.body() or b"{}")
            if not isinstance(raw, dict):
                raise ValueError("the body must be {call_id, choice}")
            choice = raw.get("choice")
            if choice not in ("once", "conversation", "deny"):
                raise ValueError(f"unknown choice {choice!r}: once, conversation or deny")
            live.chat.answer_tool(str(raw.get("call_id", "")), choice)
        else:
            return _error(404, NotFoundError(f"no action {action!r} for this stream"))
    except ValueError as err:
        return _error(400, err)
    return JSONResponse({"result": None})


routes = [
    Route("/backend/session", session, methods=["GET"]),
    Route("/backend/stream/{stream_id}/{action}", control, methods=["POST"]),
    Route("/backend/stream/{method}", stream, methods=["POST"]),
    Route("/backend/{method}", call, methods=["POST"]),
]
