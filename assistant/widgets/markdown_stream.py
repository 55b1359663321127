"""Streaming Markdown at a bounded frame rate.

Textual's ``MarkdownStream`` appends as fast as the UI can render, so while a
reply streams the UI thread keeps a whole core busy re-laying-out the growing
block. On a laptop that core is taken from llama.cpp, whose threads wait for
each other at every layer: measured on 2 cores with SmolLM2, decode dropped
from 77 to 46 tok/s while the TUI rendered every token. Appending at most
``fps`` times a second (``[ui] stream_fps``, 4 by default: see
``UISettings.stream_fps`` for the measurements) leaves the CPU to the model.
"""

from __future__ import annotations

import asyncio

from textual.widgets import Markdown

DEFAULT_FPS = 4.0


class ThrottledMarkdownStream:
    """Same interface as ``textual.widgets.markdown.MarkdownStream``
    (``write``/``stop``), with at most ``fps`` appends per second."""

    def __init__(self, markdown: Markdown, fps: float = DEFAULT_FPS) -> None:
        self.markdown = markdown
        self.interval = 1.0 / fps
        self._pending: list[str] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def write(self, fragment: str) -> None:
        if self._stopped:
            raise RuntimeError("the stream has stopped")
        if fragment:
            self._pending.append(fragment)
            self._wake.set()

    async def stop(self) -> None:
        """Flush what is pending and end the stream."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._flush()

    async def _flush(self) -> None:
        text = "".join(self._pending)
        self._pending.clear()
        if text:
            await self.markdown.append(text)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.shield(self._flush())
            await asyncio.sleep(self.interval)


def stream_into(markdown: Markdown, fps: float = DEFAULT_FPS) -> ThrottledMarkdownStream:
    stream = ThrottledMarkdownStream(markdown, fps)
    stream.start()
    return stream
