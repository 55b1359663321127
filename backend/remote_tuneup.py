"""Tune-ups on ``RemoteBackend``: the facade's tune-up and adapter members
over the RPC API (``backend.server.rpc_tuneup``), and ``RemoteTuneupJob``,
which has ``TuneupJob``'s interface (``updates()``, ``cancel()``,
``running``, ``last``) for a job running on the server.

What the client sees of the server's job:

- ``start_tuneup`` opens the job's NDJSON stream; ``updates()`` reads it.
  Each ``updates()`` call goes on after the reports already seen (as on
  ``TuneupJob``), reattaching with ``follow`` once the first stream is
  used up or gone.
- The job runs on in the server when the stream drops or the TUI quits;
  only ``cancel()`` / ``cancel_tuneup()`` stop it. A lost connection ends
  ``updates()`` with an ``error`` report saying so, while ``running``
  stays true (as far as this client knows it still runs): opening the
  Tune-up screen again follows it from where it left off.
- ``tuneup`` is the job this client started, else the server's current or
  last job as it was when the client connected (``start()``), or when
  ``start_tuneup`` was refused because one was running. It is not polled:
  a job another client starts later is seen on the next of those.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from backend.common.errors import AssistantError
from backend.modelfiles.adapters import Adapter
from backend.tuneup.job import TuneupBusyError, TuneupUpdate
from backend.wire import decode

Lines = tuple[httpx.Response, AsyncIterator[dict[str, Any]]]
Opener = Callable[[str, Any], Coroutine[Any, Any, tuple[httpx.Response, AsyncIterator[Any], Any]]]


class RemoteTuneupJob:
    """A tune-up running on the server (see the module docstring)."""

    def __init__(
        self,
        job_id: str,
        opener: Opener,
        post: Callable[[str], None],
        *,
        running: bool = True,
        seen: int = 0,
        last: TuneupUpdate | None = None,
        stream: Lines | None = None,
    ) -> None:
        self.job_id = job_id
        self.last = last
        self._open, self._post = opener, post
        self._running, self._seen, self._stream = running, seen, stream

    @property
    def running(self) -> bool:
        """Until its final report (as far as this client has heard)."""
        return self._running

    def cancel(self) -> None:
        """Ask the server to stop this job (sent in the background); the
        job still reports ``cancelled`` through ``updates()``."""
        if self._running:
            self._post(f"/backend/tuneup/{self.job_id}/cancel")

    async def updates(self) -> AsyncIterator[TuneupUpdate]:
        """Every report after those already seen, until the final one."""
        while self._running:
            if self._stream is not None:
                (response, lines), self._stream = self._stream, None
            else:
                path = f"/backend/tuneup/{self.job_id}/follow"
                try:
                    response, lines, _ = await self._open(path, {"after": self._seen})
                except AssistantError as err:
                    yield self._lost(err)
                    return
            try:
                async for item in lines:
                    if "event" in item:
                        update: TuneupUpdate = decode(item["event"])
                        self._seen = int(item.get("n", self._seen + 1))
                        self.last = update
                        if update.final:
                            self._running = False
                        yield update
                        if update.final:
                            return
                    elif "end" in item:  # the server lost the job without a report
                        self._running = False
                        yield self._ended()
                        return
            except AssistantError as err:
                yield self._lost(err)
                return
            finally:
                await response.aclose()

    def _lost(self, err: AssistantError) -> TuneupUpdate:
        message = f"{err}; the tune-up goes on there (open Tune-up again to follow it)"
        return TuneupUpdate("error", {"title": err.title, "message": message})

    def _ended(self) -> TuneupUpdate:
        update = TuneupUpdate(
            "error", {"title": "Tune-up failed", "message": "the server ended the job's stream"}
        )
        self.last = update
        return update


class RemoteTuneupMethods:
    _tuneup: RemoteTuneupJob | None = None

    if TYPE_CHECKING:  # provided by RemoteBackend

        async def _call(self, name: str, /, **kwargs: Any) -> Any: ...

        async def _request(self, method: str, path: str, body: Any = None) -> httpx.Response: ...

        async def _open(
            self, path: str, body: Any
        ) -> tuple[httpx.Response, AsyncIterator[dict[str, Any]], dict[str, Any]]: ...

        def _fire(self, job: Coroutine[Any, Any, None]) -> None: ...

    def _post_later(self, path: str) -> None:
        async def post() -> None:
            await self._request("POST", path)

        self._fire(post())

    async def _refresh_tuneup(self) -> None:
        """Adopt the server's current or last job (``GET /backend/tuneup``)."""
        info = (await self._request("GET", "/backend/tuneup")).json().get("job")
        if not isinstance(info, dict):
            return
        if self._tuneup is not None and self._tuneup.job_id == info["id"]:
            return
        self._tuneup = RemoteTuneupJob(
            str(info["id"]),
            self._open,
            self._post_later,
            running=bool(info["running"]),
            seen=int(info["seen"]),
            last=decode(info["last"]),
        )

    @property
    def tuneup(self) -> RemoteTuneupJob | None:
        """The current (or last) tune-up job (see the module docstring)."""
        return self._tuneup

    async def start_tuneup(
        self,
        method: str = "sft",
        *,
        model: str | None = None,
        exclude: Sequence[int] = (),
        steps: int | None = None,
        dry_run: bool = False,
    ) -> RemoteTuneupJob:
        """Start a tune-up on the server.

        Raises:
            TuneupBusyError: one is running there (``tuneup`` is then that job).
            ModelError: the model is not a local GGUF.
            ValueError: unknown method.
        """
        kwargs: dict[str, Any] = {"method": method, "model": model, "exclude": list(exclude)}
        kwargs |= {"steps": steps, "dry_run": dry_run}
        try:
            response, lines, header = await self._open("/backend/tuneup/start", kwargs)
        except TuneupBusyError:
            await self._refresh_tuneup()
            raise
        job = RemoteTuneupJob(
            str(header["job"]), self._open, self._post_later, stream=(response, lines)
        )
        self._tuneup = job
        return job

    def cancel_tuneup(self) -> None:
        """Stop the server's running tune-up, if any (sent in the background)."""
        self._fire(self._call("cancel_tuneup"))

    async def list_adapters(self, model: str | None = None) -> list[Adapter]:
        return await self._call("list_adapters", model=model)

    async def activate_adapter(self, run_id: str, *, force: bool = False) -> Adapter:
        return await self._call("activate_adapter", run_id=run_id, force=force)

    async def deactivate_adapter(self, model: str | None = None) -> bool:
        return await self._call("deactivate_adapter", model=model)
