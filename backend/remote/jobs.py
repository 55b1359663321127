"""``RemoteTuneupJob``: a tune-up running on the server, the remote
``TuneupJobHandle`` (``backend.server.rpc_jobs`` serves it).

What the client sees of the server's job:

- ``start_tuneup`` and ``current_tuneup`` return it from the job's
  descriptor; ``updates()`` follows the job's NDJSON feed, each call going
  on after the reports already seen (as on ``TuneupJob``), reattaching when
  a stream is used up or gone.
- The job runs on in the server when the stream drops or the TUI quits;
  only ``cancel()`` / ``cancel_tuneup()`` stop it. A lost connection ends
  ``updates()`` with an ``error`` report saying so, while ``running``
  stays true (as far as this client knows it still runs): opening the
  Tune-up screen again follows it from where it left off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from backend.common.errors import AssistantError
from backend.remote.transport import Transport
from backend.tuneup.records import TuneupJobHandle, TuneupUpdate


class RemoteTuneupJob(TuneupJobHandle):
    """A tune-up running on the server (see the module docstring)."""

    def __init__(self, transport: Transport, descriptor: dict[str, Any]) -> None:
        self.job_id = str(descriptor["id"])
        self._transport = transport
        self._running = bool(descriptor.get("running", True))
        self._seen = int(descriptor.get("seen", 0))
        self._last: TuneupUpdate | None = transport.codec.decode(descriptor.get("last"))

    @property
    def running(self) -> bool:
        """Until its final report (as far as this client has heard)."""
        return self._running

    @property
    def last(self) -> TuneupUpdate | None:
        return self._last

    def cancel(self) -> None:
        """Ask the server to stop this job (sent in the background); the
        job still reports ``cancelled`` through ``updates()``."""
        if self._running:
            self._transport.fire(self._transport.post(f"/backend/jobs/{self.job_id}/cancel"))

    async def updates(self) -> AsyncIterator[TuneupUpdate]:
        path = f"/backend/jobs/{self.job_id}/follow"
        while self._running:
            try:
                response, lines, _ = await self._transport.open_stream(path, {"after": self._seen})
            except AssistantError as err:
                yield self._lost(err)
                return
            try:
                async for item in lines:
                    if "event" in item:
                        update: TuneupUpdate = self._transport.codec.decode(item["event"])
                        self._seen = int(item.get("n", self._seen + 1))
                        self._last = update
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
        self._last = update
        return update


REMOTE_HANDLES: dict[type[Any], type[Any]] = {TuneupJobHandle: RemoteTuneupJob}
"""The remote class of each job-handle type the contract can return."""
