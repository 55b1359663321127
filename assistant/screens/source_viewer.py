"""One source of a reply, in the context of its document.

The document's indexed text comes from ``AssistantAPI.source_view`` in a worker
(the UI never reads files itself) and is shown in a read-only ``TextArea``
with the passage selected — the selection is the highlight, and the view
scrolls to it. Keys: ``o``/``e`` open the file in ``$VISUAL``/``$EDITOR`` at
the passage's line, ``c`` copies the passage, Esc closes.

Decisions:

* The editor runs inside ``App.suspend()`` (the documented Textual way to
  hand the terminal to another program; the event loop waits for it, which
  is what the user asked for). Where the app cannot suspend (headless, web)
  the editor runs in a thread without the terminal, like a GUI editor.
* Without an editor variable the file goes to the desktop's opener
  (``xdg-open``, ``open`` on macOS), which cannot take a line number.
* A file that was moved or deleted since it was indexed still shows the
  stored text; opening it says so instead of starting an editor on nothing.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import PurePath
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static, TextArea
from textual.widgets.text_area import Selection

from assistant.clipboard import copy_text
from assistant.widgets.sources import source_label
from backend import AssistantAPI, AssistantError
from backend.common.events import SourceRef

if TYPE_CHECKING:
    from backend.api import SourceView


def location(text: str, offset: int) -> tuple[int, int]:
    """(row, column) of character ``offset`` in ``text``, as TextArea counts them."""
    offset = max(0, min(offset, len(text)))
    row = text.count("\n", 0, offset)
    column = offset - (text.rfind("\n", 0, offset) + 1)
    return row, column


def editor_command(path: str, line: int | None) -> list[str] | None:
    """``$VISUAL``/``$EDITOR`` (with its own arguments) at ``+line``, or None."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        return None
    return [*shlex.split(editor), *([f"+{line}"] if line else []), path]


def opener_command(path: str) -> list[str] | None:
    """The desktop's "open this file" program, if there is one."""
    name = "open" if sys.platform == "darwin" else "xdg-open"
    found = shutil.which(name)
    return [found, path] if found else None


class SourceViewerScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape", "dismiss", "Close"),
        ("o,e", "open_file", "Open in editor"),
        ("c", "copy_passage", "Copy passage"),
    ]

    def __init__(self, backend: AssistantAPI, message_id: int, source: SourceRef) -> None:
        super().__init__(classes="dialog-screen")
        self.backend = backend
        self.message_id = message_id
        self.source = source
        self.view: SourceView | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide", id="source-viewer"):
            yield Label(source_label(self.source), classes="dialog-title", markup=False)
            yield Static(self.source.path, id="source-path", classes="dialog-hint", markup=False)
            if self.source.flags:
                yield Static(
                    "⚠ This passage contains text that tries to instruct the assistant ("
                    + ", ".join(self.source.flags)
                    + "). It was given to the model as quoted text only.",
                    id="source-flags",
                    markup=False,
                )
            yield TextArea(
                self.source.text,
                id="source-text",
                read_only=True,
                soft_wrap=True,
                show_line_numbers=False,
            )
            yield Static("Loading the document…", id="source-note", classes="dialog-hint")
        yield Footer()

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        area.selection = Selection((0, 0), location(self.source.text, len(self.source.text)))
        area.focus()
        self.load()

    @work(exclusive=True, group="source-view", exit_on_error=False)
    async def load(self) -> None:
        note = self.query_one("#source-note", Static)
        try:
            view = await self.backend.documents.source_view(self.message_id, self.source.n)
        except (AssistantError, ValueError) as err:
            note.update(f"Showing the stored passage only: {err}")
            return
        self.view = view
        area = self.query_one(TextArea)
        area.load_text(view.text)
        start, end = location(view.text, view.start), location(view.text, view.end)
        area.selection = Selection(start, end)
        self.call_after_refresh(self._scroll_to_passage, start)
        where = f"line {view.line}" if view.line else "line unknown"
        note.update(
            (f"{where} · " if view.exists else "The file is no longer on disk · ")
            + "o opens it in your editor · c copies the passage · Esc closes"
        )

    def _scroll_to_passage(self, start: tuple[int, int]) -> None:
        area = self.query_one(TextArea)
        offset = area.wrapped_document.location_to_offset(start)
        area.scroll_to(y=max(0, offset.y - 2), animate=False)

    @property
    def passage(self) -> str:
        view = self.view
        return view.text[view.start : view.end] if view else self.source.text

    async def action_copy_passage(self) -> None:
        how = await copy_text(self.app, self.passage)
        self.notify(
            "Copied the passage" + (" (via terminal)" if how == "terminal" else ""), timeout=2
        )

    def action_open_file(self) -> None:
        view = self.view
        if view is None:
            self.notify("The document is still loading", severity="warning")
            return
        if not view.exists:
            self.notify(
                f"{PurePath(view.path).name} is no longer at {view.path} "
                "(moved or deleted since it was indexed)",
                title="File not found",
                severity="warning",
            )
            return
        command = editor_command(view.path, view.line)
        if command is None:
            opener = opener_command(view.path)
            if opener is None:
                self.notify("Set $EDITOR (or $VISUAL) to open files from here", severity="warning")
                return
            self.run_detached(opener)
            return
        try:
            with self.app.suspend():
                result = subprocess.run(command, check=False)
        except SuspendNotSupported:
            self.run_detached(command)
            return
        except OSError as err:
            self.notify(f"Could not start {command[0]}: {err}", severity="error")
            return
        if result.returncode != 0:
            self.notify(f"{command[0]} exited with status {result.returncode}", severity="warning")

    @work(group="open-file", exit_on_error=False)
    async def run_detached(self, command: list[str]) -> None:
        """Run ``command`` without the terminal, in a thread (the UI goes on)."""

        def run() -> int:
            return subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            ).returncode

        try:
            code = await asyncio.to_thread(run)
        except OSError as err:
            self.notify(f"Could not start {command[0]}: {err}", severity="error")
            return
        if code != 0:
            self.notify(f"{command[0]} exited with status {code}", severity="warning")
