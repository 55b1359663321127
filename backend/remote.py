"""``RemoteBackend``: the ``Backend`` facade of a running ``assistant serve``,
over its RPC API (``backend.server.rpc``), for ``assistant --connect URL``.

It has the same async interface as ``Backend`` for every method the TUI
uses (plain calls in ``backend.remote_methods``; chat streams and
progress-reporting jobs here). Like ``Backend`` it is constructed unstarted
and ``start()`` (or ``RemoteBackend.open``) connects: it fetches what the
UI reads synchronously -- ``settings`` and ``unavailable`` -- once, and
caches it. ``close()`` closes the connection, never the server's backend.

Chat replies come back as a ``RemoteStream``, which behaves like a
``ChatStream`` where the TUI touches one: ``async for`` over typed events,
``conversation_id``, ``cancel()`` and ``answer_tool()`` (both sync, as on
``ChatStream``: they post to the server in the background), ``aclose()``
and ``collect()``. Leaving the loop early closes the HTTP stream, which
cancels the reply on the server. ``index`` and ``eval_own`` call their
``progress`` callback in the event loop (not a thread) and forward the
caller's ``cancel``/``paused`` events to the server while they run.
Tune-ups and adapters are in ``backend.remote_tuneup``: a tune-up started
here keeps running on the server if this client goes away.

Results are decoded with ``backend.wire`` (only registered record types)
and errors re-raised as the server's class when it is an allow-listed one
(``backend.wire_errors``). An unreachable server is a ``ServerUnavailable``,
a refused token a ``NotAuthorized``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from backend.common.config import Settings
from backend.common.errors import AssistantError
from backend.knowledge.records import IndexProgress, IndexSummary
from backend.rag.types import EvalProgress
from backend.remote_methods import RemoteMethods
from backend.remote_stream import RemoteStream
from backend.remote_tuneup import RemoteTuneupJob, RemoteTuneupMethods
from backend.runtimes.registry import UnavailableRuntime
from backend.wire import decode, encode
from backend.wire_errors import decode_error

TOKEN_ENV = "ASSISTANT_TOKEN"
_POLL_S = 0.1


class ServerUnavailable(AssistantError):
    title = "Server unreachable"


class NotAuthorized(AssistantError):
    title = "Not authorized"


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_token(url: str, token: str | None = None) -> str:
    """``token``, else ``$ASSISTANT_TOKEN``, else (loopback URLs only: the
    server runs as this user on this machine) the local ``server-token``.

    Raises:
        NotAuthorized: none of them gives a token.
    """
    token = token or os.environ.get(TOKEN_ENV)
    if not token and is_loopback_url(url):
        from backend.common.secrets import get_secret

        token = get_secret("server-token")
    if not token:
        raise NotAuthorized(f"no token for {url}: pass --token or set {TOKEN_ENV}")
    return token


def _error(response: httpx.Response, body: bytes) -> Exception:
    if response.status_code == 401:
        return NotAuthorized(f"the server at {response.url.host} refused the token (401)")
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    return decode_error(payload, f"the server answered HTTP {response.status_code}")


class RemoteBackend(RemoteMethods, RemoteTuneupMethods):
    """A ``Backend`` served by ``assistant serve`` at ``url``."""

    def __init__(self, url: str, token: str, *, timeout_s: float = 300.0) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None
        self._settings: Settings | None = None
        self.unavailable: list[UnavailableRuntime] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    async def open(cls, url: str, token: str, **kwargs: Any) -> RemoteBackend:
        backend = cls(url, token, **kwargs)
        await backend.start()
        return backend

    # life cycle --------------------------------------------------------
    async def start(self) -> None:
        """Connect and read the server's settings.

        Raises:
            ServerUnavailable: nothing answers at the URL.
            NotAuthorized: the token was refused.
        """
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.url,
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=httpx.Timeout(10.0, read=self._timeout_s),
            )
        try:
            response = await self._request("GET", "/backend/session")
            data = response.json()
            self._settings = Settings.model_validate(data["settings"])
            self.unavailable = list(decode(data["unavailable"]))
            await self._refresh_tuneup()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            raise RuntimeError("RemoteBackend.start() has not run")
        return self._settings

    # transport ---------------------------------------------------------
    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("RemoteBackend.start() has not run")
        return self._client

    async def _request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            response = await self._http().request(method, path, json=body)
        except httpx.HTTPError as err:
            raise self._unreachable(err) from err
        if response.status_code != 200:
            raise _error(response, response.content)
        return response

    def _unreachable(self, err: Exception) -> ServerUnavailable:
        return ServerUnavailable(f"cannot reach {self.url}: {str(err) or type(err).__name__}")

    async def _call(self, name: str, /, **kwargs: Any) -> Any:
        response = await self._request("POST", f"/backend/{name}", encode(kwargs))
        return decode(response.json()["result"])

    async def _control(self, stream_id: str, action: str, body: Any) -> None:
        await self._request("POST", f"/backend/stream/{stream_id}/{action}", body)

    def _fire(self, job: Coroutine[Any, Any, None]) -> None:
        """Run ``job`` in the background (a sync ``cancel``); failures are
        dropped: a stream that already ended needs no cancelling."""
        task = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled():
                t.exception()

        task.add_done_callback(done)

    async def _open_stream(
        self, name: str, kwargs: dict[str, Any]
    ) -> tuple[httpx.Response, AsyncIterator[dict[str, Any]], dict[str, Any]]:
        return await self._open(f"/backend/stream/{name}", kwargs)

    async def _open(
        self, path: str, body: Any
    ) -> tuple[httpx.Response, AsyncIterator[dict[str, Any]], dict[str, Any]]:
        """POST ``body`` (wire-encoded) and read the NDJSON answer's first line."""
        client = self._http()
        request = client.build_request("POST", path, json=encode(body))
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as err:
            raise self._unreachable(err) from err
        if response.status_code != 200:
            body = await response.aread()
            await response.aclose()
            raise _error(response, body)
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
        except StopAsyncIteration:  # pragma: no cover - defensive
            return

    # chat ----------------------------------------------------------------
    async def _chat(self, name: str, **kwargs: Any) -> RemoteStream:
        response, lines, header = await self._open_stream(name, kwargs)
        return RemoteStream(self._control, self._fire, response, lines, header)

    async def send(
        self,
        conversation_id: int | None,
        text: str,
        *,
        model: str | None = None,
        folder_ids: list[int] | None = None,
        tools: bool | None = None,
    ) -> RemoteStream:
        return await self._chat(
            "send",
            conversation_id=conversation_id,
            text=text,
            model=model,
            folder_ids=folder_ids,
            tools=tools,
        )

    async def regenerate(self, message_id: int) -> RemoteStream:
        return await self._chat("regenerate", message_id=message_id)

    async def edit_and_resend(self, message_id: int, text: str) -> RemoteStream:
        return await self._chat("edit_and_resend", message_id=message_id, text=text)

    def cancel(self, conversation_id: int) -> None:
        """Stop the reply being generated in this conversation, if any."""
        self._fire(self._call("cancel", conversation_id=conversation_id))

    # jobs ----------------------------------------------------------------
    async def _job(
        self,
        name: str,
        kwargs: dict[str, Any],
        progress: Callable[[Any], None] | None,
        cancel: threading.Event | None,
        paused: threading.Event | None = None,
    ) -> Any:
        response, lines, header = await self._open_stream(name, kwargs)
        watcher = asyncio.create_task(self._forward(str(header["stream"]), cancel, paused))
        try:
            async for item in lines:
                if "event" in item and progress is not None:
                    progress(decode(item["event"]))
                elif "result" in item:
                    return decode(item["result"])
            raise ServerUnavailable(f"the server ended {name} without a result")
        finally:
            watcher.cancel()
            await response.aclose()

    async def _forward(
        self, stream_id: str, cancel: threading.Event | None, paused: threading.Event | None
    ) -> None:
        """Mirror the caller's cancel/paused events to the server's job."""
        cancelled, was_paused = False, False
        while True:
            await asyncio.sleep(_POLL_S)
            with contextlib.suppress(AssistantError):
                if cancel is not None and cancel.is_set() and not cancelled:
                    cancelled = True
                    await self._control(stream_id, "cancel", None)
                now = paused is not None and paused.is_set()
                if now != was_paused:
                    was_paused = now
                    await self._control(stream_id, "pause" if now else "resume", None)

    async def index(
        self,
        folder_ids: list[int] | None = None,
        progress: Callable[[IndexProgress], None] | None = None,
        cancel: threading.Event | None = None,
        paused: threading.Event | None = None,
    ) -> IndexSummary:
        """Bring the server's index up to date; ``progress`` is called in the event loop."""
        result: IndexSummary = await self._job(
            "index", {"folder_ids": folder_ids}, progress, cancel, paused
        )
        return result

    async def eval_own(
        self,
        modes: Sequence[str] | None = None,
        k: int = 10,
        label: str = "",
        save: bool = True,
        progress: Callable[[EvalProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        kwargs = {"modes": list(modes) if modes is not None else None, "k": k, "label": label}
        result: dict[str, Any] = await self._job(
            "eval_own", {**kwargs, "save": save}, progress, cancel
        )
        return result


__all__ = [
    "NotAuthorized",
    "RemoteBackend",
    "RemoteStream",
    "RemoteTuneupJob",
    "ServerUnavailable",
    "resolve_token",
]
