"""Exporting the open conversation to a file, from the command palette
("Export conversation…").

A mixin for ``MainScreen``, like ``ToolsMode``: the user confirms (or
edits) the path in a small input screen; a path ending ``.json`` gets the
JSON export (every branch, feedback and sources, for ``assistant
import``), any other Markdown (the active branch with its citations). The
backend writes the text (``TransferAPI.export_conversations``), this
module the file, in a worker thread; a notification says where it went.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work

from assistant.screens.text_input import TextInputScreen
from backend import AssistantAPI, AssistantError
from backend.api import Conversation

if TYPE_CHECKING:
    from textual.screen import Screen

    _Base = Screen[None]
else:
    _Base = object

EXPORT_COMMAND = "Export conversation…"
EXPORT_HELP = "Write this chat to a file: .md (readable) or .json (everything, re-importable)"


def default_path(conv: Conversation, folder: Path | None = None) -> Path:
    """``<folder>/<title-as-words>.md`` (folder: the current directory)."""
    words = re.findall(r"\w+", conv.title.lower())
    name = "-".join(words)[:60].strip("-") or f"chat-{conv.id}"
    return (folder or Path.cwd()) / f"{name}.md"


def format_for(path: Path) -> str:
    return "json" if path.suffix.lower() == ".json" else "md"


class ExportMode(_Base):
    backend: AssistantAPI
    conversation: Conversation | None

    # provided by MainScreen (a Textual Screen)
    def report(self, err: Exception) -> None: ...

    @work(group="conversation", exit_on_error=False)
    async def action_export_conversation(self) -> None:
        conv = self.conversation
        if conv is None:
            self.notify("Nothing to export yet: send a message first", severity="warning")
            return
        answer = await self.app.push_screen_wait(
            TextInputScreen(
                "Export conversation to (.md or .json)",
                str(default_path(conv)),
                placeholder="a file path ending .md or .json",
            )
        )
        if not answer or not answer.strip():
            return
        path = Path(answer.strip()).expanduser()
        try:
            text = await self.backend.transfer.export_conversations([conv.id], format_for(path))
            await asyncio.to_thread(path.write_text, text, encoding="utf-8")
        except (AssistantError, ValueError) as err:
            self.report(err)
            return
        except OSError as err:
            self.notify(
                f"cannot write {path}: {err.strerror or err}",
                title="Export failed",
                severity="error",
            )
            return
        self.notify(f"Exported “{conv.title}” to {path}")
