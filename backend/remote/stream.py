"""``RemoteStream``: one reply streaming from ``assistant serve``'s RPC API,
the remote ``ReplyStream``.

``async for`` yields the typed events (decoded with the contract's codec);
``cancel()`` and ``answer_tool()`` are sync, as on ``ChatStream``, and post
to the server in the background, so the loop reading the stream keeps
running while the server's turn waits for an approval. Leaving the loop
early closes the HTTP response, which cancels the reply on the server (it
still stores the partial reply).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from backend.chat.reply import ReplyStream, ToolChoice
from backend.common.errors import AssistantError
from backend.common.events import ChatEvent
from backend.remote.transport import Transport

CHOICES = ("once", "conversation", "deny")


class StreamEnded(AssistantError):
    """The server closed a stream before its last event (it stopped or crashed)."""

    title = "Server unreachable"


class RemoteStream(ReplyStream):
    """One reply streaming from the server (see the module docstring)."""

    def __init__(
        self,
        transport: Transport,
        response: httpx.Response,
        lines: AsyncIterator[dict[str, Any]],
        header: dict[str, Any],
    ) -> None:
        self._conversation_id = int(header.get("conversation_id") or 0)
        self.stream_id = str(header["stream"])
        self._takes_approvals = bool(header.get("approvals"))
        self._transport = transport
        self._control = f"/backend/control/{self.stream_id}"
        self._response, self._lines = response, lines
        self._cancelled = False
        self._iterated = False
        self.finished = False

    @property
    def conversation_id(self) -> int:
        return self._conversation_id

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def takes_approvals(self) -> bool:
        return self._takes_approvals

    def cancel(self) -> None:
        self._cancelled = True
        if not self.finished:
            self._transport.fire(self._transport.post(f"{self._control}/cancel"))

    def answer_tool(self, call_id: str, choice: ToolChoice) -> None:
        if not self._takes_approvals:
            raise ValueError("this reply has no tool calls to approve")
        if choice not in CHOICES:
            raise ValueError(f"unknown choice {choice!r}: once, conversation or deny")
        body = {"call_id": call_id, "choice": choice}
        self._transport.fire(self._transport.post(f"{self._control}/answer_tool", body))

    def __aiter__(self) -> AsyncIterator[ChatEvent]:
        if self._iterated:
            raise RuntimeError("a RemoteStream can be iterated once")
        self._iterated = True
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ChatEvent]:
        try:
            async for item in self._lines:
                if "event" in item:
                    yield self._transport.codec.decode(item["event"])
                elif "end" in item:
                    self.finished = True
                    return
            raise StreamEnded("the server ended the reply's stream early")
        finally:
            await self._response.aclose()  # early exit: the server cancels

    async def aclose(self) -> None:
        if not self.finished:
            self._cancelled = True
            with contextlib.suppress(AssistantError):
                await self._transport.post(f"{self._control}/cancel")
            if not self._iterated:
                with contextlib.suppress(AssistantError):
                    async for _ in self:
                        pass
        await self._response.aclose()

    async def collect(self) -> list[ChatEvent]:
        return [event async for event in self]
