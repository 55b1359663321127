"""The real thing: the TUI on the bundled SmolLM2 through llama.cpp.

The fake runtime covers the UI logic quickly; these tests prove the same
paths work with the real model: a streamed reply with real timings in its
footer, a stop in the middle of a long reply, an edit that makes a branch,
thumbs, and the request log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Markdown

from assistant.app import AssistantApp
from assistant.widgets.composer import Composer
from backend import Backend
from backend.common.config import GenerationSettings, Settings
from backend.common.locations import Locations

from .helpers import SIZE, messages, settle, wait_for

pytestmark = pytest.mark.real_model


def real_backend(home: Path, max_tokens: int) -> Backend:
    settings = Settings(generation=GenerationSettings(max_tokens=max_tokens, temperature=0.0))
    return Backend(locations=Locations(home), settings=settings)  # real runtimes


async def type_and_send(pilot: Any, text: str) -> None:
    composer = pilot.app.main.query_one(Composer)
    composer.focus()
    composer.text = text
    await pilot.press("enter")


async def test_real_model_streams_a_reply_with_timings(tmp_path: Path) -> None:
    backend = real_backend(tmp_path, max_tokens=32)
    app = AssistantApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_and_send(pilot, "What is the capital of France?")
        await settle(pilot, timeout=120)
        widgets = messages(app)
        assert [w.record.role for w in widgets] == ["user", "assistant"]
        reply = widgets[1]
        assert "Paris" in reply.query_one(Markdown).source
        assert reply.record.status == "complete"
        footer = str(reply.footer_text())
        assert "smollm2-135m-instruct" in footer and "TTFT" in footer and "tok/s" in footer
        log = [r for r in await backend.telemetry.request_log() if r.stage == "generate"]
        assert len(log) == 1
        assert log[0].runtime == "llamacpp" and log[0].error is None
        assert log[0].prompt_tokens and log[0].completion_tokens
        assert log[0].decode_tok_s and log[0].ttft_ms

        # thumbs on the real reply, stored for tune-ups
        reply.focus()
        await pilot.press("plus")
        await settle(pilot)
        assert (await backend.conversations.thread(app.main.conversation_id))[1].rating == 1  # type: ignore[arg-type]

        # edit the question: a second branch answered by the real model
        widgets[0].focus()
        await pilot.press("e")
        await pilot.pause()
        editor = app.screen.query_one("TextArea")
        editor.text = "What is the capital of Italy?"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await settle(pilot, timeout=120)
        widgets = messages(app)
        assert widgets[0].record.sibling_count == 2
        assert "Rome" in widgets[1].query_one(Markdown).source


async def test_real_model_stops_mid_reply(tmp_path: Path) -> None:
    backend = real_backend(tmp_path, max_tokens=400)
    app = AssistantApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_and_send(pilot, "Write a very long story about a dragon and a knight.")
        await wait_for(
            pilot,
            lambda: (
                len(messages(app)) == 2
                and len(messages(app)[1].query_one(Markdown).source.split()) >= 5
            ),
            timeout=120,
        )
        await pilot.press("escape")
        await settle(pilot, timeout=60)
        reply = messages(app)[1]
        assert reply.record.status == "cancelled"
        log = [r for r in await backend.telemetry.request_log() if r.stage == "generate"]
        assert log[0].stop_reason == "cancelled"
        assert 5 <= (log[0].completion_tokens or 0) < 400


async def test_real_model_multiplies_through_the_calculator_in_the_tui(tmp_path: Path) -> None:
    """Issue 5's "done when": the bundled model answers "what is 1234*5678"
    through the calculator, and the call shows as a block above the reply."""
    from textual.widgets import Static

    backend = real_backend(tmp_path, max_tokens=32)
    app = AssistantApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "tools: on" in str(app.main.query_one("#status", Static).render())
        await type_and_send(pilot, "what is 1234*5678")
        await settle(pilot, timeout=120)
        reply = messages(app)[-1]
        (block,) = reply.tool_calls.blocks()
        heading = str(block.query_one("CollapsibleTitle", Static).render())
        assert 'calculator(expression="1234*5678")' in heading and "done" in heading
        (call,) = await backend.tools.message_tool_calls(reply.record.id)
        assert "7006652" in call.output
        assert "7006652" in reply.query_one(Markdown).source.replace(",", "")
