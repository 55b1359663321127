"""The HTTP side of ``RemoteBackend``: requests, NDJSON streams and
background posts to a running ``assistant serve`` (``backend.server.rpc``).

An unreachable server is a ``ServerUnavailable``, a refused token a
``NotAuthorized``; an error the server reports is raised again as the
server's class when it is an allowed one (``backend.api.errors``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx

from backend.api.errors import decode_error
from backend.api.wire import Codec
from backend.common.errors import AssistantError

_POLL_S = 0.1


class ServerUnavailable(AssistantError):
    title = "Server unreachable"


class NotAuthorized(AssistantError):
    title = "Not authorized"


Opened = tuple[httpx.Response, AsyncIterator[dict[str, Any]], dict[str, Any]]
"""An NDJSON answer: the response, its remaining items, its first item."""


def _error(response: httpx.Response, body: bytes) -> Exception:
    if response.status_code == 401:
        return NotAuthorized(f"the server at {response.url.host} refused the token (401)")
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    return decode_error(payload, f"the server answered HTTP {response.status_code}")


class Transport:
    """One connection to the server at ``url`` (see the module docstring)."""

    def __init__(self, url: str, token: str, codec: Codec, timeout_s: float = 300.0) -> None:
        self.url = url.rstrip("/")
        self.codec = codec
        self._token = token
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def open(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.url,
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=httpx.Timeout(10.0, read=self._timeout_s),
            )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("RemoteBackend.start() has not run")
        return self._client

    def unreachable(self, err: Exception) -> ServerUnavailable:
        return ServerUnavailable(f"cannot reach {self.url}: {str(err) or type(err).__name__}")

    async def request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            response = await self._http().request(method, path, json=body)
        except httpx.HTTPError as err:
            raise self.unreachable(err) from err
        if response.status_code != 200:
            raise _error(response, response.content)
        return response

    async def call(self, path: str, kwargs: dict[str, Any]) -> Any:
        """POST wire-encoded ``kwargs``; the decoded ``result``."""
        response = await self.request("POST", path, self.codec.encode(kwargs))
        return self.codec.decode(response.json()["result"])

    async def post(self, path: str, body: Any = None) -> None:
        await self.request("POST", path, body)

    def fire(self, job: Coroutine[Any, Any, Any]) -> None:
        """Run ``job`` in the background (for a sync ``cancel``); failures
        are dropped: a stream that already ended needs no cancelling."""
        task = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled():
                t.exception()

        task.add_done_callback(done)

    async def open_stream(self, path: str, body: Any) -> Opened:
        """POST ``body`` (wire-encoded) and read the NDJSON answer's first line."""
        client = self._http()
        request = client.build_request("POST", path, json=self.codec.encode(body))
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as err:
            raise self.unreachable(err) from err
        if response.status_code != 200:
            content = await response.aread()
            await response.aclose()
            raise _error(response, content)
        lines = self._items(response)
        try:
            header = await anext(lines)
        except BaseException:
            await response.aclose()
            raise
        return response, lines, header

    async def _items(self, response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
        """The stream's JSON lines without heartbeats; ``error`` lines raised."""
        try:
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                item = json.loads(line)
                if not item:
                    continue  # heartbeat
                if "error" in item:
                    raise decode_error(item)
                yield item
        except httpx.HTTPError as err:
            raise ServerUnavailable(f"lost the connection to {self.url}: {err}") from err

    async def job(
        self,
        path: str,
        kwargs: dict[str, Any],
        progress: Callable[..., None] | None,
        cancel: threading.Event | None,
        paused: threading.Event | None,
    ) -> Any:
        """Run a streamed job: ``progress`` is called (in the event loop) with
        each event's arguments; the caller's ``cancel``/``paused`` events are
        mirrored to the server while it runs. Returns the decoded result."""
        response, lines, header = await self.open_stream(path, kwargs)
        control = f"/backend/control/{header['stream']}"
        watcher = asyncio.create_task(self._mirror(control, cancel, paused))
        try:
            async for item in lines:
                if "event" in item and progress is not None:
                    progress(*self.codec.decode(item["event"]))
                elif "result" in item:
                    return self.codec.decode(item["result"])
            raise ServerUnavailable(f"the server ended {path} without a result")
        finally:
            watcher.cancel()
            await response.aclose()

    async def _mirror(
        self, control: str, cancel: threading.Event | None, paused: threading.Event | None
    ) -> None:
        cancelled, was_paused = False, False
        while True:
            await asyncio.sleep(_POLL_S)
            with contextlib.suppress(AssistantError):
                if cancel is not None and cancel.is_set() and not cancelled:
                    cancelled = True
                    await self.post(f"{control}/cancel")
                now = paused is not None and paused.is_set()
                if now != was_paused:
                    was_paused = now
                    await self.post(f"{control}/{'pause' if now else 'resume'}")
