"""Tune-ups over the RPC API (``backend.server.rpc``), for ``RemoteTuneupJob``
(``backend.remote_tuneup``).

Routes (behind the same ``security.Guard``):

- ``POST /backend/tuneup/start``: ``start_tuneup``'s keyword arguments
  (validated like every RPC call); the answer is NDJSON: ``{"job": id}``,
  then ``{"event": TuneupUpdate, "n": k}`` per report (``n`` counts them
  from 1), then ``{"end": true}`` after the final one; ``{}`` heartbeats.
- ``POST /backend/tuneup/{id}/follow`` with ``{"after": k}``: the same
  stream for a job already running, replaying its reports after the k-th
  (a client that lost its stream, or a second TUI, picks the job up).
- ``POST /backend/tuneup/{id}/cancel``: cancel that job (a stale client
  cannot stop a newer job it never saw; ``cancel_tuneup``, a plain call,
  stops whatever runs).
- ``GET /backend/tuneup``: ``{"job": null}`` or ``{"job": {"id", "running",
  "seen", "last"}}`` for the current or last job, so a client connecting
  later knows one runs.

Why a dropped stream does not cancel the job (unlike a chat reply): a
tune-up is minutes of training started on purpose; a laptop lid closing or
a TUI quitting must not throw that away. Cancelling is explicit. The
server reads each job's reports once (``Feed``: ``TuneupJob.updates()`` is
a single-consumer queue) and keeps them, so any number of followers see
every report. Only the current or last job is kept, as on the facade.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from backend.common.errors import AssistantError, NotFoundError
from backend.server.rpc import Live, _arguments, _backend, _BadCall, _error, _ndjson
from backend.tuneup.job import TuneupBusyError, TuneupJob, TuneupUpdate
from backend.wire import encode
from backend.wire_errors import status_for

STREAMS = frozenset({"start_tuneup"})
"""Facade methods served here (the signature test covers them)."""


class Feed:
    """One job's reports, read once and kept for every follower."""

    def __init__(self, job: TuneupJob) -> None:
        self.id = secrets.token_urlsafe(12)
        self.job = job
        self.history: list[TuneupUpdate] = []
        self.done = False
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        try:
            async for update in self.job.updates():
                self.history.append(update)
                self._notify()
        finally:
            self.done = True
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    @property
    def running(self) -> bool:
        return not self.done and not (self.history and self.history[-1].final)

    async def follow(self, after: int, header: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        yield header
        n = max(0, after)
        while True:
            changed = self._changed
            while n < len(self.history):
                update = self.history[n]
                n += 1
                yield {"event": encode(update), "n": n}
                if update.final:
                    yield {"end": True}
                    return
            if self.done:
                yield {"end": True}
                return
            await changed.wait()

    def info(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else None
        return {"id": self.id, "running": self.running, "seen": len(self.history),
                "last": encode(last)}  # fmt: skip


def _feed(request: Request) -> Feed | None:
    feed: Feed | None = getattr(request.app.state, "rpc_tuneup", None)
    return feed


def _lock(request: Request) -> asyncio.Lock:
    state = request.app.state
    if not hasattr(state, "rpc_tuneup_lock"):
        state.rpc_tuneup_lock = asyncio.Lock()
    lock: asyncio.Lock = state.rpc_tuneup_lock
    return lock


def _stream(feed: Feed, after: int) -> Response:
    """NDJSON of the feed; a client leaving stops only its own follower."""
    live = Live(cancel=lambda: None)

    def stop_follower() -> None:
        for task in list(live.tasks):
            task.cancel()

    live.cancel = stop_follower
    body = _ndjson(feed.follow(after, {"job": feed.id}), live, lambda: None)
    return StreamingResponse(body, media_type="application/x-ndjson")


async def start(request: Request) -> Response:
    backend = _backend(request)
    async with _lock(request):  # two clients starting at once: one wins
        current = _feed(request)
        try:
            if current is not None and current.running:
                raise TuneupBusyError("a tune-up is already running; cancel it first")
            kwargs = await _arguments(request, "start_tuneup")
            job = await backend.start_tuneup(**kwargs)
        except _BadCall as bad:
            return _error(bad.status, bad.err)
        except (AssistantError, ValueError) as err:
            return _error(status_for(err), err)
        feed = request.app.state.rpc_tuneup = Feed(job)
    return _stream(feed, 0)


def _named(request: Request) -> Feed:
    feed = _feed(request)
    if feed is None or feed.id != request.path_params["job_id"]:
        raise NotFoundError("no such tune-up job (a newer one replaced it, or none ran)")
    return feed


async def follow(request: Request) -> Response:
    try:
        feed = _named(request)
        raw = json.loads(await request.body() or b"{}")
        after = raw.get("after", 0) if isinstance(raw, dict) else None
        if not isinstance(after, int) or isinstance(after, bool):
            raise ValueError("the body must be {after: <number of reports already seen>}")
    except NotFoundError as err:
        return _error(404, err)
    except ValueError as err:
        return _error(400, err)
    return _stream(feed, after)


async def cancel(request: Request) -> Response:
    try:
        feed = _named(request)
    except NotFoundError as err:
        return _error(404, err)
    feed.job.cancel()
    return JSONResponse({"result": None})


async def current(request: Request) -> Response:
    feed = _feed(request)
    return JSONResponse({"job": feed.info() if feed is not None else None})


routes = [
    Route("/backend/tuneup", current, methods=["GET"]),
    Route("/backend/tuneup/start", start, methods=["POST"]),
    Route("/backend/tuneup/{job_id}/follow", follow, methods=["POST"]),
    Route("/backend/tuneup/{job_id}/cancel", cancel, methods=["POST"]),
]
