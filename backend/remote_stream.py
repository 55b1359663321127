"""``RemoteStream``: one chat reply streaming from ``assistant serve``'s
RPC API, with the part of ``ChatStream``'s interface the TUI and CLI use.

``async for`` yields the typed events (decoded with ``backend.wire``);
``cancel()`` and ``answer_tool()`` are sync, as on ``ChatStream``, and post
to the server in the background (``fire``), so the loop reading the stream
keeps running while the server's turn waits for an approval. Leaving the
loop early closes the HTTP response, which cancels the reply on the server
(it still stores the partial reply).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx

from backend.common.errors import AssistantError
from backend.common.events import ChatEvent
from backend.wire import decode

CHOICES = ("once", "conversation", "deny")

Control = Callable[[str, str, Any], Coroutine[Any, Any, None]]
"""``control(stream_id, action, body)``: post to the stream's control route."""


class StreamEnded(AssistantError):
    """The server closed a stream before its last event (it stopped or crashed)."""

    title = "Server unreachable"


class RemoteStream:
    """One reply streaming from the server (see the module docstring)."""

    def __init__(
        self,
        control: Control,
        fire: Callable[[Coroutine[Any, Any, None]], None],
        response: httpx.Response,
        lines: AsyncIterator[dict[str, Any]],
        header: dict[str, Any],
    ) -> None:
        self.conversation_id: int = int(header.get("conversation_id") or 0)
        self.stream_id = str(header["stream"])
        self._has_approvals = bool(header.get("approvals"))
        self._control, self._fire = control, fire
        self._response, self._lines = response, lines
        self._cancelled = False
        self._iterated = False
        self.finished = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Stop generation; the stream still ends with ``Done("cancelled")``
        and ``MessageSaved`` for the partial reply."""
        self._cancelled = True
        if not self.finished:
            self._fire(self._control(self.stream_id, "cancel", None))

    def answer_tool(self, call_id: str, choice: str) -> None:
        """Answer a ``ToolCallProposed`` that needs approval (sent in the background).

        Raises:
            ValueError: this reply cannot call tools, or ``choice`` is unknown.
        """
        if not self._has_approvals:
            raise ValueError("this reply has no tool calls to approve")
        if choice not in CHOICES:
            raise ValueError(f"unknown choice {choice!r}: once, conversation or deny")
        body = {"call_id": call_id, "choice": choice}
        self._fire(self._control(self.stream_id, "answer_tool", body))

    def __aiter__(self) -> AsyncIterator[ChatEvent]:
        if self._iterated:
            raise RuntimeError("a RemoteStream can be iterated once")
        self._iterated = True
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ChatEvent]:
        try:
            async for item in self._lines:
                if "event" in item:
                    yield decode(item["event"])
                elif "end" in item:
                    self.finished = True
                    return
            raise StreamEnded("the server ended the reply's stream early")
        finally:
            await self._response.aclose()  # early exit: the server cancels

    async def aclose(self) -> None:
        """Cancel (if still running) and wait until the server stored the reply."""
        if not self.finished:
            self._cancelled = True
            with contextlib.suppress(AssistantError):
                await self._control(self.stream_id, "cancel", None)
            if not self._iterated:
                with contextlib.suppress(AssistantError):
                    async for _ in self:
                        pass
        await self._response.aclose()

    async def collect(self) -> list[ChatEvent]:
        return [event async for event in self]
