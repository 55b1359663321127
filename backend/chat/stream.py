"""Bridging a blocking producer thread to an async iterator of events.

Runtimes block; the UI's event loop must not. ``ChatStream`` runs the producer
in a thread and hands its events over through an ``asyncio.Queue``.
Cancelling (``cancel()``, or leaving the ``async for`` early) sets the
producer's ``threading.Event``, which the runtime checks between tokens.
Leaving the loop early only finalises the iterator when asyncio gets to it;
``await stream.aclose()`` cancels and waits until the partial reply is
stored.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from backend.chat.reply import ReplyStream
from backend.chat.tool_loop import Approvals, Choice
from backend.common.events import ChatEvent

_END = object()

Producer = Callable[[Callable[[ChatEvent], None], threading.Event], None]


class ChatStream(ReplyStream):
    """An async iterator of ``ChatEvent`` for one assistant reply (the local
    ``ReplyStream``)."""

    def __init__(
        self, conversation_id: int, producer: Producer, approvals: Approvals | None = None
    ) -> None:
        self._conversation_id = conversation_id
        self.approvals = approvals
        self.cancel_event = threading.Event()
        self._producer = producer
        self._queue: asyncio.Queue[Any] | None = None
        self._thread: threading.Thread | None = None

    @property
    def conversation_id(self) -> int:
        return self._conversation_id

    @property
    def takes_approvals(self) -> bool:
        return self.approvals is not None

    def cancel(self) -> None:
        """Stop generation at the next token; the stream still ends with
        ``Done("cancelled")`` and ``MessageSaved`` for the partial reply."""
        self.cancel_event.set()

    def answer_tool(self, call_id: str, choice: Choice) -> None:
        """Answer a ``ToolCallProposed`` that needs approval: ``once``,
        ``conversation`` (allow this tool for the rest of the conversation)
        or ``deny``. The turn waits for this (or for ``cancel``).

        Raises:
            ValueError: this reply cannot call tools, or ``choice`` is unknown.
        """
        if self.approvals is None:
            raise ValueError("this reply has no tool calls to approve")
        self.approvals.answer(call_id, choice)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def _start(self) -> asyncio.Queue[Any]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()

        def emit(event: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, event)

        def run() -> None:
            try:
                self._producer(emit, self.cancel_event)
            finally:
                emit(_END)

        self._thread = threading.Thread(target=run, name="chat-turn", daemon=True)
        self._thread.start()
        return queue

    def __aiter__(self) -> AsyncIterator[ChatEvent]:
        if self._queue is not None:
            raise RuntimeError("a ChatStream can be iterated once")
        self._queue = self._start()
        self._events = self._iterate(self._queue)
        return self._events

    async def aclose(self) -> None:
        """Cancel (if still running) and wait until the producer finished
        storing the reply."""
        self.cancel_event.set()
        events = getattr(self, "_events", None)
        if events is not None:
            await events.aclose()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    async def _iterate(self, queue: asyncio.Queue[Any]) -> AsyncGenerator[ChatEvent, None]:
        try:
            while True:
                event = await queue.get()
                if event is _END:
                    return
                yield event
        finally:
            # Early exit (break, task cancelled): stop the model, and wait
            # for the producer to store what it has, off the event loop.
            self.cancel_event.set()
            if self._thread is not None:
                await asyncio.to_thread(self._thread.join)

    async def collect(self) -> list[ChatEvent]:
        """Run to the end and return every event (CLI and tests)."""
        return [event async for event in self]
