"""What the API hands back for work that outlives one call: a reply that
streams (``ReplyStream``) and a tune-up job (``TuneupJobHandle``).

Both have two implementations -- the local one (``backend.chat.stream.
ChatStream``, ``backend.tuneup.job.TuneupJob``) and the remote one
(``backend.remote.stream.RemoteStream``, ``backend.remote.jobs.
RemoteTuneupJob``) -- which subclass these Protocols, so mypy checks each
against the same declaration and the UI is typed against the Protocol only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal, Protocol

from backend.common.events import ChatEvent
from backend.tuneup.job import TuneupUpdate

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


class TuneupJobHandle(Protocol):
    """A tune-up running in its own process (locally or on the server)."""

    @property
    def running(self) -> bool:
        """Until its final report."""
        ...

    @property
    def last(self) -> TuneupUpdate | None:
        """The latest report seen, if any."""
        ...

    def cancel(self) -> None:
        """Ask the job to stop; it still reports ``cancelled``."""
        ...

    def updates(self) -> AsyncIterator[TuneupUpdate]:
        """Every report after those already seen, until the final one."""
        ...
