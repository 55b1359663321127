"""Tool calls in the TUI, driven through the real app on a real Backend.

The chat model is a FakeRuntime with a scripted ``decider``: it answers
the backend's hidden tool decisions (requests with a JSON schema) from the
user's message, and the reply says which tool results it was given. The
tools are the real built-ins, so ``save_note`` really writes into
``<home>/notes``; the tests assert on those files, on what reached the
runtime and on what the widgets show.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static

from assistant.app import AssistantApp
from assistant.screens.tool_approval import ToolApprovalScreen
from assistant.widgets.composer import Composer
from assistant.widgets.message import MessageWidget
from assistant.widgets.tool_call import ToolCallBlock, call_signature
from backend import Backend
from backend.runtimes.base import ChatMessage, GenerationRequest
from backend.runtimes.fake import FakeRuntime

from .helpers import SIZE, MakeBackend, make_app, messages, settle, wait_for, wait_screen

CALC = '{"tool": "calculator", "arguments": {"expression": "1234*5678"}}'
NONE = '{"tool": "none"}'
LOAD_TIMEOUT = 60.0
"""The first decision loads the embedder the router ranks tools with."""


def note_call(title: str, text: str) -> str:
    return json.dumps({"tool": "save_note", "arguments": {"title": title, "text": text}})


class Decider:
    """Answers tool decisions: first from ``script`` (in order), then from
    the user's message. Keeps every decision request it got."""

    def __init__(self, *script: str) -> None:
        self.script = list(script)
        self.requests: list[GenerationRequest] = []

    def __call__(self, request: GenerationRequest) -> str:
        self.requests.append(request)
        if self.script:
            return self.script.pop(0)
        text = request.messages[-1].content
        if "1234*5678" in text:
            return CALC
        wanted = re.search(r"save a note saying (.+)", text)
        if wanted:
            return note_call(wanted.group(1), wanted.group(1))
        return NONE


def reply(prompt: list[ChatMessage]) -> str:
    """The answer names the tool results it was given (and the product)."""
    last = prompt[-1].content
    tools = re.findall(r'<tool_result id="T\d+" tool="([\w.]+)"', last)
    answer = f"Answered with {', '.join(tools) or 'no tools'}."
    return answer + (" The product is 7006652." if "7006652" in last else "")


def tool_runtime(*script: str) -> tuple[FakeRuntime, Decider]:
    decider = Decider(*script)
    return FakeRuntime(decider=decider, responder=reply), decider


def decision_requests(runtime: FakeRuntime) -> list[GenerationRequest]:
    return [r for r in runtime.requests if r.params.json_schema is not None]


def notes_in(backend: Backend) -> list[Path]:
    folder = backend.locations.home / "notes"
    return sorted(folder.glob("*.md")) if folder.exists() else []


def blocks(widget: MessageWidget) -> list[ToolCallBlock]:
    return widget.tool_calls.blocks()


def title(block: ToolCallBlock) -> str:
    return str(block.query_one("CollapsibleTitle", Static).render())


def details(block: ToolCallBlock) -> str:
    return str(block.query_one(".tool-details", Static).render())


def status_line(app: AssistantApp) -> str:
    return str(app.main.query_one("#status", Static).render())


async def submit(pilot: Pilot[Any], text: str) -> None:
    """Send without waiting for the reply (it may wait on an approval)."""
    app = pilot.app
    assert isinstance(app, AssistantApp)
    composer = app.main.query_one(Composer)
    composer.focus()
    await pilot.pause()
    composer.text = text
    await pilot.press("enter")


def record_pushes(app: AssistantApp) -> list[type]:
    """The types of the screens the app pushes from now on."""
    pushed: list[type] = []
    push = app.push_screen

    def recording(screen: Screen[Any] | str, *args: Any, **kwargs: Any) -> Any:
        pushed.append(type(screen))
        return push(screen, *args, **kwargs)

    app.push_screen = recording  # type: ignore[method-assign]
    return pushed


async def test_calculator_call_shows_a_block_above_the_reply(backends: MakeBackend) -> None:
    runtime, decider = tool_runtime()
    app = make_app(backends(runtime))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await submit(pilot, "what is 1234*5678")
        await settle(pilot, LOAD_TIMEOUT)
        assert len(decider.requests) == 1
        assert "calculator" in (decider.requests[0].params.json_schema or "")
        reply_widget = messages(app)[-1]
        (block,) = blocks(reply_widget)
        heading = title(block)
        assert 'calculator(expression="1234*5678")' in heading
        assert " ms · done" in heading and "side effect" not in heading
        assert block.collapsed
        # the reply follows the block, and was written with the result
        children = list(reply_widget.children)
        assert children.index(reply_widget.tool_calls) < children.index(
            reply_widget.query_one(".body")
        )
        assert reply_widget.text == "Answered with calculator. The product is 7006652."
        # Enter on the title expands the arguments and the output
        block.query_one("CollapsibleTitle").focus()
        await pilot.press("enter")
        await pilot.pause()
        assert not block.collapsed
        shown = details(block)
        assert '"expression": "1234*5678"' in shown
        assert re.search(r"^Output\n.*7006652", shown, re.M)


async def test_denied_note_is_not_written(backends: MakeBackend) -> None:
    runtime, _ = tool_runtime()
    backend = backends(runtime)
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await submit(pilot, "save a note saying buy milk")
        await wait_screen(pilot, ToolApprovalScreen)
        modal = app.screen
        assert isinstance(modal, ToolApprovalScreen)
        shown = " ".join(str(s.render()) for s in modal.query(Static))
        assert "save_note" in shown and "built-in tool" in shown and "side effects" in shown
        assert '"text": "buy milk"' in shown
        assert "⚠" not in shown  # no provenance: the user asked for it directly
        (block,) = blocks(messages(app)[-1])
        assert "waiting for approval" in title(block)
        await pilot.press("d")
        await settle(pilot)
        assert app.screen is app.main
        assert notes_in(backend) == []
        assert "declined" in title(block) and "✎ side effect" in title(block)
        assert "The user declined this call." in details(block)
        assert messages(app)[-1].record.status == "complete"  # the reply still came
        assert await backend.tools.allowed_tools(app.main.conversation_id or 0) == set()


async def test_note_allowed_once_is_written_and_asked_again(backends: MakeBackend) -> None:
    runtime, _ = tool_runtime()
    backend = backends(runtime)
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await submit(pilot, "save a note saying buy milk")
        await wait_screen(pilot, ToolApprovalScreen)
        await pilot.press("o")
        await settle(pilot, LOAD_TIMEOUT)
        (path,) = notes_in(backend)
        assert "buy milk" in path.read_text()
        (block,) = blocks(messages(app)[-1])
        assert "done" in title(block) and str(path) in details(block)
        assert messages(app)[-1].text == "Answered with save_note."
        # "once" is not remembered: the next note asks again
        await submit(pilot, "save a note saying buy eggs")
        await wait_screen(pilot, ToolApprovalScreen)
        await pilot.press("escape")  # Escape denies
        await settle(pilot)
        assert len(notes_in(backend)) == 1


async def test_note_allowed_for_the_conversation_does_not_ask_again(
    backends: MakeBackend,
) -> None:
    runtime, _ = tool_runtime()
    backend = backends(runtime)
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await submit(pilot, "save a note saying buy milk")
        await wait_screen(pilot, ToolApprovalScreen)
        await pilot.press("a")
        await settle(pilot, LOAD_TIMEOUT)
        assert len(notes_in(backend)) == 1
        cid = app.main.conversation_id
        assert cid is not None and await backend.tools.allowed_tools(cid) == {"save_note"}
        pushed = record_pushes(app)
        await submit(pilot, "save a note saying buy eggs")
        await settle(pilot)
        assert ToolApprovalScreen not in pushed
        written = [p.read_text() for p in notes_in(backend)]
        assert len(written) == 2 and any("buy eggs" in text for text in written)
        (block,) = blocks(messages(app)[-1])
        assert "done" in title(block)
        # another conversation asks again
        await pilot.press("ctrl+n")
        await settle(pilot)
        await submit(pilot, "save a note saying buy bread")
        await wait_screen(pilot, ToolApprovalScreen)
        await pilot.press("d")
        await settle(pilot)
        assert len(notes_in(backend)) == 2


async def test_a_call_after_tool_output_shows_its_provenance(backends: MakeBackend) -> None:
    # Step 1 fails (empty title); step 2 is proposed after reading that
    # output, so it asks again even though save_note was allowed.
    runtime, _ = tool_runtime(note_call("", "buy milk"), note_call("milk", "buy milk"))
    backend = backends(runtime)
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await submit(pilot, "save a note saying buy milk")
        await wait_screen(pilot, ToolApprovalScreen)
        await pilot.press("a")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ToolApprovalScreen) and app.screen.call.step == 2,
            LOAD_TIMEOUT,
        )
        shown = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "⚠ Proposed after the assistant read output of save_note" in shown
        await pilot.press("o")
        await settle(pilot)
        first, second = blocks(messages(app)[-1])
        assert "error" in title(first) and "the title is empty" in details(first)
        assert "⚠ after reading: output of save_note" in title(second)
        assert "done" in title(second)
        assert len(notes_in(backend)) == 1


async def test_ctrl_o_turns_tools_off_for_the_chat(backends: MakeBackend) -> None:
    runtime, _ = tool_runtime()
    backend = backends(runtime)
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "tools: on" in status_line(app)
        await submit(pilot, "what is 1234*5678")
        await settle(pilot, LOAD_TIMEOUT)
        assert len(decision_requests(runtime)) == 1  # on: the model was asked
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert "tools: off" in status_line(app)
        cid = app.main.conversation_id
        assert cid is not None and await backend.tools.tools_enabled(cid) is False
        asked = len(runtime.requests)
        await submit(pilot, "what is 1234*5678")
        await settle(pilot)
        assert len(runtime.requests) == asked + 1  # only the reply itself
        assert len(decision_requests(runtime)) == 1
        assert blocks(messages(app)[-1]) == []
        assert messages(app)[-1].text == "Answered with no tools."
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert "tools: on" in status_line(app)
        assert await backend.tools.tools_enabled(cid) is True


async def test_reopened_conversation_shows_stored_calls(backends: MakeBackend) -> None:
    runtime, _ = tool_runtime()
    backend = backends(runtime)
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await submit(pilot, "what is 1234*5678")
        await settle(pilot, LOAD_TIMEOUT)
        await submit(pilot, "save a note saying buy milk")
        await wait_screen(pilot, ToolApprovalScreen)
        await pilot.press("d")
        await settle(pilot)
        cid = app.main.conversation_id
    await backend.close()

    restarted = backends(tool_runtime()[0])
    app = make_app(restarted)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.main.conversation_id == cid
        replies = [w for w in messages(app) if w.record.role == "assistant"]
        assert [len(blocks(w)) for w in replies] == [1, 1]
        calc, note = blocks(replies[0])[0], blocks(replies[1])[0]
        assert call_signature("calculator", {"expression": "1234*5678"}) in title(calc)
        assert "done" in title(calc) and re.search(r"^Output\n.*7006652", details(calc), re.M)
        assert calc.collapsed and note.collapsed
        assert "save_note" in title(note) and "declined" in title(note)
        assert "✎ side effect" in title(note)


async def test_stopping_the_reply_closes_the_approval(backends: MakeBackend) -> None:
    runtime, _ = tool_runtime()
    backend = backends(runtime)
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await submit(pilot, "save a note saying buy milk")
        await wait_screen(pilot, ToolApprovalScreen)
        await app.main.run_action("stop")  # what Esc in the chat does
        await settle(pilot)
        assert app.screen is app.main
        assert not app.main.query(ToolApprovalScreen)
        assert notes_in(backend) == []
        reply_widget = messages(app)[-1]
        assert reply_widget.record.status == "cancelled"
        (block,) = blocks(reply_widget)
        assert "declined" in title(block)
        (stored,) = await backend.tools.message_tool_calls(reply_widget.message_id)
        assert stored.approved is False and stored.output == ""
