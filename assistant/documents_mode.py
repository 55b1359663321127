"""Whether (and from which folders) the chat answers from the user's documents.

A mixin for ``MainScreen``, like ``ChatActions``:

* ``ctrl+d`` (action ``toggle_documents``) flips the *effective* setting of
  this conversation to an explicit on/off; the palette's "Documents for this
  chat…" (``pick_documents``) also offers "auto" (follow ``[rag]
  use_documents``) and "on, only folder X". Both are stored on the
  conversation by the backend, so they survive a restart.
* The indicator is part of the status line above the composer:
  ``docs: auto (on)``, ``docs: off``, ``docs: on · only notes``.
* ``@docs``/``@chats``/``@memory``/``@none``/``@tool`` force the question's
  source (read by the backend; the chip under the reply shows it).
* ``@name`` tokens in a question scope *that question* to the folders whose
  basename is ``name`` (case-insensitive); they are removed from the text sent.
  An unknown name sends nothing and says which names exist. Tokens count only
  at the start of a word and outside code (``a@b.c`` and `` `@decorator` `` are
  left alone).
* On start, documents whose text tries to instruct the assistant are named
  in a warning (the backend flags them while indexing).
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from textual import work

from assistant.screens.picker import PickerScreen
from backend import AssistantAPI, AssistantError
from backend.api import Conversation, FolderStatus

if TYPE_CHECKING:
    from textual.screen import Screen

    _Base = Screen[None]
else:
    _Base = object

_CODE = re.compile(r"```.*?(```|$)|`[^`\n]*`", re.S)
_TOKEN = re.compile(r"(?<!\S)@([\w][\w.\-]*)")


SOURCE_TOKENS = frozenset({"docs", "documents", "chats", "memory", "none", "tool", "tools"})
"""``@docs``, ``@chats``, ``@memory``, ``@none``, ``@tool[:name]`` force the
question's source; the backend reads them (``ChatAPI.send``), so they are
not folder names here."""


def folder_tokens(text: str) -> tuple[list[str], str]:
    """The ``@name`` tokens of ``text`` (outside code, not a source token)
    and the text without them."""
    code = [(m.start(), m.end()) for m in _CODE.finditer(text)]
    names: list[str] = []
    kept: list[str] = []
    last = 0
    for m in _TOKEN.finditer(text):
        if any(a <= m.start() < b for a, b in code) or m.group(1).lower() in SOURCE_TOKENS:
            continue
        names.append(m.group(1))
        kept.append(text[last : m.start()])
        last = m.end()
    kept.append(text[last:])
    stripped = re.sub(r"[ \t]{2,}", " ", "".join(kept)).strip()
    return names, stripped


def folder_name(status: FolderStatus) -> str:
    return PurePath(status.folder.path).name or status.folder.path


def resolve_folders(names: list[str], folders: list[FolderStatus]) -> tuple[list[int], list[str]]:
    """Folder ids for ``names`` (by basename) and the names that matched none."""
    ids: list[int] = []
    unknown: list[str] = []
    for name in names:
        found = [s.folder.id for s in folders if folder_name(s).lower() == name.lower()]
        if not found:
            unknown.append(name)
        ids += [i for i in found if i not in ids]
    return ids, unknown


def documents_label(
    use: bool | None, effective: bool, scope: list[int] | None, folders: list[FolderStatus]
) -> str:
    state = (
        ("on" if effective else "off")
        if use is not None
        else f"auto ({'on' if effective else 'off'})"
    )
    if scope and effective:
        names = [folder_name(s) for s in folders if s.folder.id in scope]
        state += " · only " + ", ".join(names or ["(removed folders)"])
    return "docs: " + state


class DocumentsMode(_Base):
    backend: AssistantAPI
    conversation: Conversation | None
    documents_on: bool = False
    documents_text: str = "docs: auto"

    def report(self, err: Exception) -> None: ...
    def update_status(self) -> None: ...
    def load(self, conversation_id: int | None = None, reopen: bool = False) -> Any: ...

    async def refresh_documents(self) -> None:
        """Recompute the effective setting and the indicator (for ``update_status``)."""
        conv = self.conversation
        if conv is None:  # the backend's rule for a chat that has not chosen
            default = self.backend.settings.rag.use_documents
            if default == "auto":
                self.documents_on = any(s.indexed for s in await self.backend.documents.folders())
                self.documents_text = f"docs: auto ({'on' if self.documents_on else 'off'})"
            else:
                self.documents_on = default == "always"
                self.documents_text = "docs: " + ("on" if self.documents_on else "off")
            return
        self.documents_on = await self.backend.documents.documents_enabled(conv.id)
        folders = await self.backend.documents.folders() if conv.folder_scope else []
        self.documents_text = documents_label(
            conv.use_documents, self.documents_on, conv.folder_scope, folders
        )

    async def _set_documents(
        self, use: bool | None, scope: list[int] | None, conv: Conversation | None = None
    ) -> None:
        conv = conv or self.conversation or await self.backend.conversations.create_conversation()
        self.conversation = await self.backend.documents.set_conversation_documents(
            conv.id, use, scope
        )
        await self.refresh_documents()
        self.update_status()
        self.load(conv.id)
        self.notify(f"Answer from my documents: {self.documents_text.removeprefix('docs: ')}")

    @work(group="conversation", exit_on_error=False)
    async def action_toggle_documents(self) -> None:
        """Flip what this chat does now (an "auto" chat becomes explicit)."""
        try:
            conv = self.conversation or await self.backend.conversations.create_conversation()
            effective = await self.backend.documents.documents_enabled(conv.id)
            await self._set_documents(not effective, conv.folder_scope, conv)
        except (AssistantError, ValueError) as err:
            self.report(err)

    @work(group="conversation", exit_on_error=False)
    async def action_pick_documents(self) -> None:
        try:
            folders = await self.backend.documents.folders()
        except AssistantError as err:
            self.report(err)
            return
        conv = self.conversation
        choices = [
            ("auto", "Auto — on when any folder has indexed documents"),
            ("on", "On — all folders"),
            *((f"folder:{s.folder.id}", f"On — only {folder_name(s)}") for s in folders),
            ("off", "Off — answer from the model alone"),
        ]
        current = "auto"
        if conv is not None and conv.use_documents is not None:
            current = "on" if conv.use_documents else "off"
            if conv.use_documents and conv.folder_scope and len(conv.folder_scope) == 1:
                current = f"folder:{conv.folder_scope[0]}"
        picked = await self.app.push_screen_wait(
            PickerScreen(
                "Answer from my documents",
                choices,
                current,
                hint="For this chat (ctrl+d switches on/off). Start a question with "
                "@folder to search only that folder for it.",
            )
        )
        if picked is None:
            return
        use: bool | None = {"auto": None, "off": False}.get(picked, True)
        scope = [int(picked.split(":", 1)[1])] if picked.startswith("folder:") else None
        try:
            await self._set_documents(use, scope)
        except (AssistantError, ValueError) as err:
            self.report(err)

    async def scoped_question(self, text: str) -> tuple[str, list[int] | None] | None:
        """(text to send, folder ids for this question), or None when an
        ``@name`` matched no folder (the user was told)."""
        names, stripped = folder_tokens(text)
        if not names:
            return text, None
        folders = await self.backend.documents.folders()
        ids, unknown = resolve_folders(names, folders)
        if unknown:
            known = ", ".join("@" + folder_name(s) for s in folders) or "none yet (F3 adds one)"
            self.notify(
                f"No document folder named {', '.join('@' + u for u in unknown)}. "
                f"Folders: {known}. Nothing was sent.",
                title="Unknown folder",
                severity="warning",
                timeout=8,
            )
            return None
        if not stripped:
            self.notify("Type a question after the @folder", severity="warning")
            return None
        if not self.documents_on:
            self.notify(
                "This chat does not answer from your documents (ctrl+d turns it on), "
                "so nothing was searched",
                title="@folder ignored",
                severity="warning",
            )
        return stripped, ids

    @work(group="flagged", exit_on_error=False)
    async def warn_flagged(self) -> None:
        """A warning when indexed documents try to instruct the assistant."""
        try:
            flagged = await self.backend.documents.flagged_documents()
        except AssistantError:
            return
        if not flagged:
            return
        n = len(flagged)
        names = ", ".join(PurePath(path).name for path, _, _ in flagged[:3])
        more = f" and {n - 3} more" if n > 3 else ""
        self.notify(
            f"{n} document{'s contain' if n != 1 else ' contains'} text that tries to "
            f"instruct the assistant: {names}{more}. Answers quote it as text only; "
            "⚠ marks such sources.",
            title="Suspicious documents",
            severity="warning",
            timeout=12,
        )
