"""A streaming reply is re-rendered at most ``[ui] stream_fps`` times a
second (``assistant.widgets.markdown_stream``), and nothing written is lost."""

from __future__ import annotations

import asyncio
import time

from textual.app import App, ComposeResult
from textual.widgets import Markdown

from assistant.widgets.markdown_stream import DEFAULT_FPS, stream_into
from backend.common.config import Settings


class CountingMarkdown(Markdown):
    appends = 0

    async def append(self, markdown: str) -> None:  # type: ignore[override]
        self.appends += 1
        await super().append(markdown)


class One(App[None]):
    def compose(self) -> ComposeResult:
        yield CountingMarkdown()


async def stream_for(fps: float, seconds: float = 1.0, tokens: int = 80) -> tuple[int, str, float]:
    """Appends made, the text shown, and how long the writing took."""
    app = One()
    async with app.run_test() as pilot:
        md = app.query_one(CountingMarkdown)
        stream = stream_into(md, fps)
        started = time.monotonic()
        for i in range(tokens):
            await stream.write(f"word{i} ")
            await asyncio.sleep(seconds / tokens)
        elapsed = time.monotonic() - started
        await stream.stop()
        await pilot.pause()
        return md.appends, md.source, elapsed


async def test_appends_are_bounded_by_the_frame_rate_and_lose_nothing() -> None:
    appends, text, elapsed = await stream_for(fps=4)
    # about 4 a second (+ the first and the final flush), not one per token
    assert 2 <= appends <= elapsed * 4 + 3 < 80
    assert text == "".join(f"word{i} " for i in range(80))
    faster, _, _ = await stream_for(fps=30)
    assert faster > appends  # the setting is what bounds it


def test_the_default_rate_is_the_configured_one() -> None:
    assert Settings().ui.stream_fps == DEFAULT_FPS == 4.0
