"""What a reply is to its caller: ``ReplyStream``, the Protocol that the
local ``ChatStream`` and the remote ``RemoteStream`` implement (both
subclass it, so mypy checks each against the same declaration, and the UI
is typed against the Protocol only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal, Protocol

from backend.common.events import ChatEvent

ToolChoice = Literal["once", "conversation", "deny"]
"""An answer to a tool call that needs approval."""


class ReplyStream(Protocol):
    """One assistant reply as it is generated: ``async for`` yields typed
    ``ChatEvent``s and ends after ``Done`` (and ``MessageSaved`` when the
    reply is stored). It can be iterated once."""

    @property
    def conversation_id(self) -> int:
        """The conversation the reply belongs to (0 for API completions)."""
        ...

    @property
    def cancelled(self) -> bool: ...

    @property
    def takes_approvals(self) -> bool:
        """Whether this reply may propose tool calls that need an answer."""
        ...

    def cancel(self) -> None:
        """Stop generation at the next token; the stream still ends with
        ``Done("cancelled")`` and ``MessageSaved`` for the partial reply."""
        ...

    def answer_tool(self, call_id: str, choice: ToolChoice) -> None:
        """Answer a ``ToolCallProposed`` that needs approval: ``once``,
        ``conversation`` (allow the tool for the rest of the conversation) or
        ``deny``. The turn waits for this (or for ``cancel``).

        Raises:
            ValueError: this reply cannot call tools, or ``choice`` is unknown.
        """
        ...

    def __aiter__(self) -> AsyncIterator[ChatEvent]: ...

    async def aclose(self) -> None:
        """Cancel (if still running) and wait until the reply is stored."""
        ...

    async def collect(self) -> list[ChatEvent]:
        """Run to the end and return every event."""
        ...
