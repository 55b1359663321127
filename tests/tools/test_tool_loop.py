"""Tool calls inside chat turns, through the facade, on the fake runtime
with a scripted decider (the real-model path is in ``test_tools_real``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from backend import Backend
from backend.chat.stream import ChatStream
from backend.common.config import Settings, ToolsSettings
from backend.common.events import ChatEvent, MessageSaved, ToolCallFinished, ToolCallProposed
from backend.common.locations import Locations
from backend.runtimes.base import GenerationRequest
from backend.runtimes.fake import FakeRuntime

CALC = '{"tool": "calculator", "arguments": {"expression": "1234*5678"}}'
NOTE = '{"tool": "save_note", "arguments": {"title": "milk", "text": "buy milk"}}'


class Script:
    """Decider replies in order (the last one repeats); keeps the requests."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.requests: list[GenerationRequest] = []

    def __call__(self, request: GenerationRequest) -> str:
        self.requests.append(request)
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


@pytest.fixture
def script() -> Script:
    return Script(CALC)


@pytest.fixture
def runtime(script: Script) -> FakeRuntime:
    return FakeRuntime(decider=script)


@pytest.fixture
async def tb(locations: Locations, runtime: FakeRuntime) -> AsyncIterator[Backend]:
    b = await Backend.open(
        locations=locations,
        settings=Settings(default_model="fake-model", tools=ToolsSettings(max_steps=3)),
        runtimes=[runtime],
    )
    yield b
    await b.close()


async def drive(
    stream: ChatStream, answer: Callable[[ToolCallProposed], str | None] | None = None
) -> list[ChatEvent]:
    """Collect the events, answering approvals with ``answer(event)``
    (None: leave it unanswered and cancel the reply)."""
    events: list[ChatEvent] = []
    async for event in stream:
        events.append(event)
        if isinstance(event, ToolCallProposed) and event.needs_approval:
            choice = answer(event) if answer else None
            if choice is None:
                stream.cancel()
            else:
                stream.answer_tool(event.call_id, choice)  # type: ignore[arg-type]
    return events


def finished(events: list[ChatEvent]) -> list[ToolCallFinished]:
    return [e for e in events if isinstance(e, ToolCallFinished)]


def notes(locations: Locations) -> list[Path]:
    folder = locations.home / "notes"
    return sorted(folder.glob("*.md")) if folder.exists() else []


async def test_calculator_result_reaches_the_reply_and_is_kept(
    tb: Backend, runtime: FakeRuntime, script: Script
) -> None:
    events = await drive(await tb.chat.send(None, "what is 1234*5678"))
    proposed = [e for e in events if isinstance(e, ToolCallProposed)]
    assert [(p.name, p.arguments, p.needs_approval) for p in proposed] == [
        ("calculator", {"expression": "1234*5678"}, False)
    ]
    (call,) = finished(events)
    assert "7006652" in call.output and call.error is None and call.approved is None
    # one decision (the router offers one tool; a success ends the loop)
    assert len(script.requests) == 1
    schema = json.loads(script.requests[0].params.json_schema or "{}")
    assert "calculator" in json.dumps(schema)
    # the reply was generated with the result fenced in the user's turn
    final = runtime.requests[-1]
    assert final.params.json_schema is None
    last = final.messages[-1].content
    assert '<tool_result id="T1" tool="calculator"' in last and "7006652" in last
    assert last.rstrip().endswith("what is 1234*5678")
    saved = next(e for e in events if isinstance(e, MessageSaved))
    (stored,) = await tb.tools.message_tool_calls(saved.message_id)
    assert (stored.name, stored.arguments, stored.output) == (
        call.name,
        call.arguments,
        call.output,
    )
    rows = [r for r in await tb.telemetry.request_log() if r.message_id == saved.message_id]
    assert sorted(r.stage for r in rows) == ["generate", "route", "tool", "tool_decision"]
    (route_row,) = [r for r in rows if r.stage == "route"]
    assert json.loads(route_row.detail or "{}")["tools"] == ["calculator"]
    (tool_row,) = [r for r in rows if r.stage == "tool"]
    assert tool_row.model == "calculator" and tool_row.parent_request_id == saved.request_id


async def test_no_tool_request_skips_the_model_decision(
    tb: Backend, runtime: FakeRuntime, script: Script
) -> None:
    events = await drive(await tb.chat.send(None, "Write a short poem about the sea."))
    assert not finished(events)
    assert script.requests == []  # the router alone said "no tool"
    assert all(r.params.json_schema is None for r in runtime.requests)


async def test_tools_switch_per_conversation_and_per_question(tb: Backend, script: Script) -> None:
    conv = await tb.conversations.create_conversation()
    await tb.tools.set_conversation_tools(conv.id, False)
    assert not await tb.tools.tools_enabled(conv.id)
    events = await drive(await tb.chat.send(conv.id, "what is 1234*5678"))
    assert not finished(events) and script.requests == []
    events = await drive(await tb.chat.send(conv.id, "what is 1234*5678", tools=True))
    assert [c.name for c in finished(events)] == ["calculator"]
    await tb.tools.set_conversation_tools(conv.id, None)
    assert await tb.tools.tools_enabled(conv.id)  # back to [tools] enabled


@pytest.mark.parametrize("script", [Script(NOTE)])
async def test_side_effect_denied_writes_nothing(tb: Backend, locations: Locations) -> None:
    asked: list[ToolCallProposed] = []

    def deny(event: ToolCallProposed) -> str:
        asked.append(event)
        return "deny"

    events = await drive(await tb.chat.send(None, "save a note saying buy milk"), deny)
    assert [a.name for a in asked] == ["save_note"] and asked[0].side_effects
    (call,) = finished(events)
    assert call.approved is False and call.error and "declined" in call.error
    assert notes(locations) == []


@pytest.mark.parametrize("script", [Script(NOTE)])
async def test_allow_once_asks_again_next_time(tb: Backend, locations: Locations) -> None:
    asked: list[str] = []

    def once(event: ToolCallProposed) -> str:
        asked.append(event.call_id)
        return "once"

    first = await drive(await tb.chat.send(None, "save a note saying buy milk"), once)
    assert finished(first)[0].approved is True
    assert [p.read_text() for p in notes(locations)] == ["# milk\n\nbuy milk\n"]
    (conv,) = await tb.conversations.list_conversations()
    await drive(await tb.chat.send(conv.id, "save a note saying buy milk"), once)
    assert len(asked) == 2 and len(notes(locations)) == 2


@pytest.mark.parametrize("script", [Script(NOTE)])
async def test_allow_for_conversation_stops_asking_there_only(
    tb: Backend, locations: Locations
) -> None:
    asked: list[str] = []

    def always(event: ToolCallProposed) -> str:
        asked.append(event.call_id)
        return "conversation"

    s = await tb.chat.send(None, "save a note saying buy milk")
    await drive(s, always)
    assert await tb.tools.allowed_tools(s.conversation_id) == {"save_note"}
    second = await drive(
        await tb.chat.send(s.conversation_id, "save a note saying buy milk"), always
    )
    assert len(asked) == 1  # not asked again in this conversation
    (call,) = finished(second)
    assert call.approved is None and call.error is None
    assert len(notes(locations)) == 2
    # another conversation asks again
    await drive(await tb.chat.send(None, "save a note saying buy milk"), always)
    assert len(asked) == 2


@pytest.mark.parametrize("script", [Script(NOTE)])
async def test_cancel_while_waiting_runs_nothing(tb: Backend, locations: Locations) -> None:
    events = await drive(await tb.chat.send(None, "save a note saying buy milk"), None)
    calls = finished(events)
    assert all(c.approved is False for c in calls)
    saved = [e for e in events if isinstance(e, MessageSaved)]
    assert saved and saved[-1].stop_reason == "cancelled"
    assert notes(locations) == []


@pytest.mark.parametrize(
    "script",
    [Script('{"tool": "calculator", "arguments": {"expression": "1/0"}}', CALC, CALC)],
)
async def test_tool_error_is_fed_back_and_retried(tb: Backend, script: Script) -> None:
    events = await drive(await tb.chat.send(None, "what is 1234*5678"))
    calls = finished(events)
    assert calls[0].error and "zero" in calls[0].error.lower()
    assert calls[1].error is None and "7006652" in calls[1].output
    # the second decision saw the first call and its error
    second = script.requests[1].messages
    assert any("Result of calculator" in m.content and "zero" in m.content for m in second)
    assert len(calls) == 2  # success ends the loop


async def test_answer_tool_without_tools_is_an_error(backend: Backend) -> None:
    stream = await backend.chat.send(None, "hi")
    await stream.collect()
    with pytest.raises(ValueError, match="no tool calls"):
        stream.answer_tool("x", "once")


async def test_unknown_choice_is_rejected(tb: Backend) -> None:
    stream = await tb.chat.send(None, "what is 1234*5678")
    with pytest.raises(ValueError, match="unknown choice"):
        stream.answer_tool("x", "maybe")  # type: ignore[arg-type]
    await asyncio.wait_for(stream.collect(), 30)


async def test_tools_need_a_runtime_that_constrains_output(tb: Backend, tmp_path: Path) -> None:
    assert await tb.tools.tools_supported()
    plain = await Backend.open(
        locations=Locations(tmp_path / "plain"),
        settings=Settings(default_model="fake-model"),
        runtimes=[FakeRuntime()],  # no decider: cannot constrain its output
    )
    try:
        assert not await plain.tools.tools_supported()
        conv = await plain.conversations.create_conversation()
        assert await plain.tools.tools_enabled(conv.id)  # switched on, yet...
        events = await drive(await plain.chat.send(conv.id, "what is 1234*5678"))
        assert not finished(events)  # ...no tools are offered
    finally:
        await plain.close()
