"""Snapshot tests (pytest-textual-snapshot) of the main, help and request-log screens.

The data is seeded before the app starts and the request log's timings and
times are pinned, so every run renders the same screen. Update with
``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from assistant.app import AssistantApp
from backend.runtimes.base import ChatMessage
from backend.runtimes.fake import FakeRuntime

from .helpers import SIZE, build_backend, settle

ANSWER = (
    "Use a list comprehension:\n\n```python\nsquares = [n * n for n in range(5)]\n```\n\n"
    "It builds the list in one expression."
)


class ScriptedRuntime(FakeRuntime):
    """Answers with a fixed Markdown reply (FakeRuntime echoes the question)."""

    def reply_for(self, messages: list[ChatMessage]) -> list[str]:
        return ANSWER.split(" ")


def seed(home: Path) -> None:
    async def run() -> None:
        backend = build_backend(home, ScriptedRuntime())
        await backend.start()
        await (await backend.chat.send(None, "Tell me about zebras")).collect()
        stream = await backend.chat.send(None, "How do I square numbers in Python?")
        await stream.collect()
        thread = await backend.conversations.thread(stream.conversation_id)
        await backend.conversations.rate(thread[-1].id, 1)
        with backend.core.stores.db.transaction() as c:
            c.execute(
                "UPDATE requests SET ttft_ms = 120 + id, total_ms = 640 + id,"
                " decode_tok_s = 30.5 + id, prefill_tok_s = 400 + id,"
                " created_at = '2026-01-15T09:3' || id || ':00.000+00:00'"
            )
        await backend.close()

    asyncio.run(run())


@pytest.fixture
def app(tmp_path: Path) -> AssistantApp:
    seed(tmp_path)
    return AssistantApp(build_backend(tmp_path, ScriptedRuntime()))


def after(*keys: str) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
            await settle(pilot)
        # a steady cursor: the blink phase would otherwise differ between runs
        pilot.app.main.query_one("#composer").cursor_blink = False  # type: ignore[attr-defined]
        await pilot.pause()

    return run_before


def test_main_screen(app: AssistantApp, snap_compare: Any) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=after())


def test_help_screen(app: AssistantApp, snap_compare: Any) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=after("f1"))


def test_request_log_screen(app: AssistantApp, snap_compare: Any) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=after("f9"))
