"""Jobs that outlive their call (a tune-up), over the RPC API.

A contract method returning a job handle (``backend.api.spec.HANDLES``)
answers with the job's descriptor ``{"id", "running", "seen", "last"}``
(or null); clients follow and cancel it here:

- ``POST /backend/jobs/{id}/follow`` with ``{"after": k}``: NDJSON
  ``{"job": id}``, then ``{"event": update, "n": k}`` per report (``n``
  counts them from 1) replaying those after the k-th, then ``{"end": true}``
  after the final one; ``{}`` heartbeats. A client that lost its stream, or
  a second TUI, picks the job up where it left off.
- ``POST /backend/jobs/{id}/cancel``: cancel that job (a stale client
  cannot stop a newer job it never saw).

Why a dropped stream does not cancel the job (unlike a reply): a tune-up is
minutes of training started on purpose; a laptop lid closing or a TUI
quitting must not throw that away. Cancelling is explicit. The server reads
each job's reports once (``Feed``: a handle's ``updates()`` is a
single-consumer queue) and keeps them, so any number of followers see every
report. Feeds of jobs that ended are dropped when a newer job appears.
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

from backend.api.errors import encode_error
from backend.api.wire import Codec
from backend.common.errors import NotFoundError
from backend.server.rpc_ndjson import Live, ndjson
from backend.tuneup.records import TuneupJobHandle


class Feed:
    """One job's reports, read once and kept for every follower."""

    def __init__(self, job: TuneupJobHandle, codec: Codec) -> None:
        self.id = secrets.token_urlsafe(12)
        self.job = job
        self.codec = codec
        self.history: list[Any] = []
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

    async def follow(self, after: int) -> AsyncIterator[dict[str, Any]]:
        yield {"job": self.id}
        n = max(0, after)
        while True:
            changed = self._changed
            while n < len(self.history):
                update = self.history[n]
                n += 1
                yield {"event": self.codec.encode(update), "n": n}
                if update.final:
                    yield {"end": True}
                    return
            if self.done:
                yield {"end": True}
                return
            await changed.wait()

    def describe(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else self.job.last
        return {
            "id": self.id,
            "running": self.running,
            "seen": len(self.history),
            "last": self.codec.encode(last),
        }


class JobFeeds:
    """The feeds of the jobs clients have been told about."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self._feeds: dict[str, Feed] = {}

    def describe(self, job: TuneupJobHandle | None) -> dict[str, Any] | None:
        """The descriptor of ``job`` (its feed is made on first sight)."""
        if job is None:
            return None
        for feed in self._feeds.values():
            if feed.job is job:
                return feed.describe()
        self._feeds = {k: f for k, f in self._feeds.items() if f.running}
        feed = Feed(job, self.codec)
        self._feeds[feed.id] = feed
        return feed.describe()

    @property
    def routes(self) -> list[Route]:
        return [
            Route("/backend/jobs/{job_id}/follow", self.follow, methods=["POST"]),
            Route("/backend/jobs/{job_id}/cancel", self.cancel, methods=["POST"]),
        ]

    def _named(self, request: Request) -> Feed:
        feed = self._feeds.get(request.path_params["job_id"])
        if feed is None:
            raise NotFoundError("no such job (a newer one replaced it, or none ran)")
        return feed

    async def follow(self, request: Request) -> Response:
        try:
            feed = self._named(request)
            raw = json.loads(await request.body() or b"{}")
            after = raw.get("after", 0) if isinstance(raw, dict) else None
            if not isinstance(after, int) or isinstance(after, bool):
                raise ValueError("the body must be {after: <number of reports already seen>}")
        except NotFoundError as err:
            return JSONResponse({"error": encode_error(err)}, 404)
        except ValueError as err:
            return JSONResponse({"error": encode_error(err)}, 400)
        live = Live(cancel=lambda: None)

        def stop_follower() -> None:  # a client leaving stops only its own follower
            for task in list(live.tasks):
                task.cancel()

        live.cancel = stop_follower
        body = ndjson(feed.follow(after), live, lambda: None)
        return StreamingResponse(body, media_type="application/x-ndjson")

    async def cancel(self, request: Request) -> Response:
        try:
            feed = self._named(request)
        except NotFoundError as err:
            return JSONResponse({"error": encode_error(err)}, 404)
        feed.job.cancel()
        return JSONResponse({"result": None})
