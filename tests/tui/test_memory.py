"""Memory in the TUI, driven with Pilot through the real app on a real
Backend (real store, the session's MiniLM, a FakeRuntime for replies):
told once, used in a new conversation and shown as used (also after a
restart); ``/remember``; incognito; the Memory screen (search, edit,
forget, forget all, export, add); the model's proposals approved one by one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, ListView, SelectionList

from assistant.app import AssistantApp
from assistant.screens.confirm import ConfirmScreen
from assistant.screens.memory import MemoryItem, MemoryScreen
from assistant.screens.memory_proposals import MemoryProposalsScreen
from assistant.screens.text_input import TextInputScreen
from backend import Backend
from backend.runtimes.base import ChatMessage
from backend.runtimes.fake import FakeRuntime

from .helpers import SIZE, MakeBackend, make_app, messages, send, settle, wait_for, wait_screen
from .test_tools import status_line, submit

LOAD_TIMEOUT = 60.0


def memory_line(app: AssistantApp, index: int = -1) -> str:
    line = messages(app)[index].memory_line
    return str(line.render()) if line.display else ""


async def test_told_once_then_used_and_shown_in_a_new_chat(
    backends: MakeBackend,
) -> None:
    runtime = FakeRuntime()
    backend = backends(runtime)
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await submit(pilot, "Remember that my manager is Dana")  # loads MiniLM
        await settle(pilot, LOAD_TIMEOUT)
        assert "✓ Remembered: My manager is Dana" in memory_line(app)
        await pilot.press("ctrl+n")
        await settle(pilot)
        await send(pilot, "Who is my manager?")
        await settle(pilot, LOAD_TIMEOUT)
        assert "Memory used: My manager is Dana" in memory_line(app)
        assert "My manager is Dana" in runtime.requests[-1].messages[0].content
        conversation_id = app.main.conversation_id
    await backend.close()

    # days later: a fresh app on the same data shows the stored use
    again = make_app(backends(FakeRuntime()))
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot, LOAD_TIMEOUT)
        assert again.main.conversation_id == conversation_id
        assert "Memory used: My manager is Dana" in memory_line(again)


async def test_remember_command_and_incognito(backends: MakeBackend) -> None:
    runtime = FakeRuntime()
    backend = backends(runtime)
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await submit(pilot, "/remember I prefer metric units")  # loads MiniLM
        await settle(pilot, LOAD_TIMEOUT)
        assert runtime.requests == []  # the model was not asked
        assert [m.text for m in await backend.memory.list_memories()] == ["I prefer metric units"]

        await app.main.run_action("toggle_incognito")
        await settle(pilot)
        assert "incognito" in status_line(app)
        await send(pilot, "Remember that I live in Lyon")
        await send(pilot, "How far is 10 miles in metric units?")
        await settle(pilot, LOAD_TIMEOUT)
        assert memory_line(app) == ""
        assert all("metric units" not in r.messages[0].content for r in runtime.requests)
        await send(pilot, "/remember I live in Lyon")
        await settle(pilot)
        assert [m.text for m in await backend.memory.list_memories()] == ["I prefer metric units"]


async def open_memory(pilot: Pilot[Any], app: AssistantApp) -> MemoryScreen:
    await app.run_action("memory")
    await wait_screen(pilot, MemoryScreen)
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, MemoryScreen)
    return screen


def shown(screen: MemoryScreen) -> list[str]:
    return [i.memory.text for i in screen.query(MemoryItem)]


async def answer_text(pilot: Pilot[Any], value: str) -> None:
    await wait_screen(pilot, TextInputScreen)
    field = pilot.app.screen.query_one(Input)
    field.value = value
    await pilot.press("enter")
    await settle(pilot)


async def test_memory_screen_search_edit_forget_export(
    backends: MakeBackend, tmp_path: Path
) -> None:
    backend = backends(FakeRuntime())
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for text in ("I prefer metric units", "My manager is Dana", "I work on billing"):
            await backend.memory.add_memory(text)
        screen = await open_memory(pilot, app)
        assert shown(screen) == ["I work on billing", "My manager is Dana", "I prefer metric units"]

        screen.query_one("#memory-search", Input).value = "dana"
        await settle(pilot)
        assert shown(screen) == ["My manager is Dana"]
        screen.query_one(ListView).focus()
        await pilot.press("e")
        await answer_text(pilot, "My manager is Dana Scully")
        assert shown(screen) == ["My manager is Dana Scully"]

        screen.query_one("#memory-search", Input).value = ""
        await settle(pilot)
        screen.query_one(ListView).focus()
        screen.query_one(ListView).index = 2
        await pilot.press("d")
        await settle(pilot)
        assert shown(screen) == ["I work on billing", "My manager is Dana Scully"]

        await pilot.press("a")
        await answer_text(pilot, "My dog is called Rex")
        assert shown(screen)[0] == "My dog is called Rex"
        assert (await backend.memory.list_memories())[0].source == "screen"

        target = tmp_path / "memories.json"
        await pilot.press("x")
        await answer_text(pilot, str(target))
        assert [m["text"] for m in json.loads(target.read_text())] == [  # oldest first
            "My manager is Dana Scully",
            "I work on billing",
            "My dog is called Rex",
        ]

        await pilot.press("D")
        await wait_screen(pilot, ConfirmScreen)
        await pilot.press("escape")  # cancelled: nothing forgotten
        await settle(pilot)
        assert len(shown(screen)) == 3
        await pilot.press("D")
        await wait_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert shown(screen) == [] and await backend.memory.list_memories() == []


def proposing(messages: list[ChatMessage]) -> str:
    if "worth remembering" in messages[-1].content:
        return "- I prefer metric units\n- I have a cat"
    return "Noted."


async def test_proposals_are_approved_one_by_one(backends: MakeBackend) -> None:
    backend: Backend = backends(FakeRuntime(responder=proposing))
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await submit(pilot, "I prefer metric units, and I have a cat")  # loads MiniLM
        await settle(pilot, LOAD_TIMEOUT)
        await app.main.run_action("suggest_memories")
        await wait_screen(pilot, MemoryProposalsScreen)
        choices = app.screen.query_one(SelectionList)
        assert choices.option_count == 2 and choices.selected == []
        choices.select(0)  # only the first
        await pilot.pause()
        await pilot.click("#save")
        await wait_for(pilot, lambda: not isinstance(app.screen, MemoryProposalsScreen))
        await settle(pilot)
        memories = await backend.memory.list_memories()
        assert [(m.text, m.source) for m in memories] == [("I prefer metric units", "model")]
