"""Streams of the RPC API as NDJSON lines, with heartbeats.

A stream's source runs in its own task and feeds a queue; the response
reads the queue and writes ``{}`` whenever nothing happened for a second
(a model loading, an approval pending), so a client gone away is noticed
and a reading client's timeout does not fire. A client leaving only calls
``Live.cancel``: the work still ends properly (a reply is still stored).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from backend.api.errors import ERRORS, encode_error
from backend.chat.reply import ReplyStream

log = logging.getLogger(__name__)
HEARTBEAT_S = 1.0


@dataclass
class Live:
    """A stream in flight, for the control route."""

    cancel: Callable[[], None]
    reply: ReplyStream | None = None
    paused: threading.Event | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


def ndjson(
    source: AsyncIterator[dict[str, Any]], live: Live, forget: Callable[[], None]
) -> AsyncIterator[bytes]:
    """The lines of ``source``, with heartbeats (see the module docstring)."""
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put(item)
        except tuple(ERRORS.values()) as err:
            await queue.put({"error": encode_error(err)})
        except Exception as err:  # a bug: logged, reported without detail
            log.exception("backend stream failed")
            message = f"internal error: {type(err).__name__}"
            await queue.put(
                {"error": {"type": "AssistantError", "title": "Server error", "message": message}}
            )
        finally:
            forget()
            await queue.put(None)

    task = asyncio.create_task(pump())
    live.tasks.add(task)
    task.add_done_callback(live.tasks.discard)

    async def lines() -> AsyncIterator[bytes]:
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    yield b"{}\n"
                    continue
                if item is None:
                    return
                yield (json.dumps(item) + "\n").encode()
        finally:
            if not task.done():
                live.cancel()  # the client went away

    return lines()
