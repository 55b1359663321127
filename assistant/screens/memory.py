"""The Memory screen: what the assistant remembers about the user.

A searchable list of memories (newest first) with where each came from;
``a`` adds one, ``e`` (or Enter) edits, ``d`` forgets the highlighted one,
``D`` forgets everything (after a confirmation), ``x`` exports them to a
file (``.md`` for Markdown, otherwise JSON). Every backend call runs in a
worker; the list reloads after each change.
"""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, ListItem, ListView, Static

from assistant.screens.confirm import ConfirmScreen
from assistant.screens.text_input import TextInputScreen
from backend import AssistantAPI, AssistantError
from backend.api import Memory

SOURCE_LABELS = {
    "chat": "you said so",
    "command": "/remember",
    "screen": "added here",
    "cli": "command line",
    "model": "suggested, approved",
    "tool": "remember tool, approved",
}


def describe_source(m: Memory) -> str:
    where = f" · chat {m.conversation_id}" if m.conversation_id else ""
    return f"{SOURCE_LABELS.get(m.source, m.source)}{where} · {m.created_at[:10]}"


class MemoryItem(ListItem):
    def __init__(self, memory: Memory) -> None:
        super().__init__(
            Label(memory.text, markup=False, classes="memory-text"),
            Label(describe_source(memory), markup=False, classes="memory-source"),
        )
        self.memory = memory


class MemoryScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape", "dismiss", "Close"),
        ("a", "add", "Add"),
        ("e", "edit", "Edit"),
        ("d", "forget", "Forget"),
        ("D", "forget_all", "Forget all"),
        ("x", "export", "Export"),
    ]

    def __init__(self, backend: AssistantAPI) -> None:
        super().__init__(classes="dialog-screen")
        self.backend = backend
        self.memories: list[Memory] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide", id="memory"):
            yield Label("Memory", classes="dialog-title")
            yield Input(placeholder="Search memories", id="memory-search")
            yield ListView(id="memory-list")
            yield Static("", id="memory-count", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.query_one("#memory-list", ListView).focus()

    @on(Input.Changed, "#memory-search")
    def _search(self, event: Input.Changed) -> None:
        self.reload()

    @on(Input.Submitted, "#memory-search")
    def _to_list(self) -> None:
        self.query_one("#memory-list", ListView).focus()

    @on(ListView.Selected, "#memory-list")
    def _selected(self) -> None:
        self.action_edit()

    @work(exclusive=True, group="memory-load", exit_on_error=False)
    async def reload(self) -> None:
        query = self.query_one("#memory-search", Input).value
        try:
            self.memories = await self.backend.memory.list_memories(query or None)
        except AssistantError as err:
            self.notify(str(err), title=err.title, severity="error")
            return
        view = self.query_one("#memory-list", ListView)
        index = view.index
        await view.clear()
        await view.extend(MemoryItem(m) for m in self.memories)
        if self.memories:
            view.index = min(index or 0, len(self.memories) - 1)
        shown = len(self.memories)
        count = f"{shown} memor{'y' if shown == 1 else 'ies'}"
        hint = "a add · e edit · d forget · D forget all · x export · Esc close"
        self.query_one("#memory-count", Static).update(
            f"{count}{' matching' if query else ''} — {hint}"
        )

    @property
    def current(self) -> Memory | None:
        view = self.query_one("#memory-list", ListView)
        item = view.highlighted_child
        return item.memory if isinstance(item, MemoryItem) else None

    @work(group="memory-write", exit_on_error=False)
    async def action_add(self) -> None:
        text = await self.app.push_screen_wait(
            TextInputScreen("Remember", placeholder="A short fact, e.g. I prefer metric units")
        )
        if text and text.strip():
            await self._write(self.backend.memory.add_memory(text, source="screen"), "Remembered")

    @work(group="memory-write", exit_on_error=False)
    async def action_edit(self) -> None:
        memory = self.current
        if memory is None:
            return
        text = await self.app.push_screen_wait(TextInputScreen("Edit memory", memory.text))
        if text is not None and text.strip() and text != memory.text:
            await self._write(self.backend.memory.update_memory(memory.id, text), "Saved")

    @work(group="memory-write", exit_on_error=False)
    async def action_forget(self) -> None:
        memory = self.current
        if memory is not None:
            await self._write(self.backend.memory.delete_memory(memory.id), "Forgotten")

    @work(group="memory-write", exit_on_error=False)
    async def action_forget_all(self) -> None:
        question = "Forget everything the assistant remembers about you? This cannot be undone."
        if await self.app.push_screen_wait(ConfirmScreen("Forget all", question, "Forget all")):
            await self._write(self.backend.memory.clear_memories(), "Forgot every memory")

    @work(group="memory-write", exit_on_error=False)
    async def action_export(self) -> None:
        path = await self.app.push_screen_wait(
            TextInputScreen("Export memories to", "memories.json", "a .json or .md file")
        )
        if not path or not path.strip():
            return
        target = Path(path.strip()).expanduser()
        try:
            text = await self.backend.memory.export_memories(
                "markdown" if target.suffix.lower() in (".md", ".markdown") else "json"
            )
            target.write_text(text, encoding="utf-8")
        except (AssistantError, OSError) as err:
            self.notify(str(err), title="Cannot export", severity="error")
            return
        self.notify(f"Exported to {target}")

    async def _write(self, call: Awaitable[object], done: str) -> None:
        try:
            await call
        except (AssistantError, ValueError) as err:
            self.notify(str(err), title="Memory", severity="warning")
            return
        self.notify(done, timeout=2)
        self.reload()
