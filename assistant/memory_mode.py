"""Long-term memory in the chat: ``/remember``, incognito, the line under a
reply, and the model's proposals.

A mixin for ``MainScreen``, like ``ToolsMode``:

* ``/remember <fact>`` in the composer saves a memory at once (source
  ``command``) without asking the model anything;
* the palette's "Incognito on/off" (action ``toggle_incognito``) stops this
  conversation reading or writing memory; the status line says
  ``incognito``;
* ``MemoriesUsed``/``MemorySaved`` of a streaming reply, and the stored
  memories of replies from history (``MemoryAPI.message_memories``, once
  per widget), show on a line under the reply;
* "Suggest memories from this chat" (action ``suggest_memories``) asks the
  model for proposals and shows them for approval
  (``MemoryProposalsScreen``); when the model may write memories
  (``[memory] model_writes``: on for models of 1B parameters or more), the
  same happens by itself when the user leaves a conversation for a new one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from textual import work

from assistant.screens.memory_proposals import MemoryProposalsScreen
from assistant.widgets.chat_view import ChatView
from assistant.widgets.composer import Composer
from assistant.widgets.message import MessageWidget
from backend import AssistantAPI, AssistantError
from backend.api import Conversation
from backend.common.events import MemoriesUsed, MemorySaved

if TYPE_CHECKING:
    from textual.screen import Screen

    _Base = Screen[None]
else:
    _Base = object

_COMMAND = re.compile(r"^\s*/remember\b\s*(?P<fact>.*)$", re.IGNORECASE | re.DOTALL)


class MemoryMode(_Base):
    backend: AssistantAPI
    conversation: Conversation | None
    _proposed: set[int]

    # provided by MainScreen
    @property
    def chat(self) -> ChatView:
        raise NotImplementedError

    def report(self, err: Exception) -> None: ...
    def update_status(self) -> None: ...

    @property
    def memory_text(self) -> str:
        """For the status line: " · incognito" while this chat is incognito."""
        return " · incognito" if self.conversation and self.conversation.incognito else ""

    # /remember -------------------------------------------------------------
    def remember_command(self, text: str) -> bool:
        """Handle ``/remember <fact>``; False when ``text`` is not the command."""
        m = _COMMAND.match(text)
        if m is None:
            return False
        fact = m["fact"].strip()
        if not fact:
            self.notify("Usage: /remember <a short fact about you>", severity="warning")
            return True
        self.query_one(Composer).clear()
        self.remember(fact)
        return True

    @work(group="memory", exit_on_error=False)
    async def remember(self, fact: str) -> None:
        conv = self.conversation
        try:
            memory = await self.backend.memory.add_memory(
                fact, source="command", conversation_id=conv.id if conv else None
            )
        except (AssistantError, ValueError) as err:
            self.report(err)
            return
        self.notify(f"Remembered: {memory.text}", title="Memory")

    # incognito -------------------------------------------------------------
    @work(group="conversation", exit_on_error=False)
    async def action_toggle_incognito(self) -> None:
        try:
            conv = self.conversation or await self.backend.conversations.create_conversation()
            self.conversation = await self.backend.memory.set_incognito(conv.id, not conv.incognito)
        except AssistantError as err:
            self.report(err)
            return
        on = self.conversation.incognito
        self.notify(
            "Incognito: this chat neither uses nor writes memory"
            if on
            else "Incognito off: this chat uses memory"
        )
        self.update_status()

    # the line under a reply ------------------------------------------------
    async def other_event(self, widget: MessageWidget | None, event: object) -> None:
        """A reply's event that ``ChatActions.write_reply`` does not handle."""
        if widget is None or not widget.is_attached:
            return
        line = widget.memory_line
        line.loaded = True
        if isinstance(event, MemorySaved):
            line.show(remembered=event.memory.text)
        elif isinstance(event, MemoriesUsed):
            line.show(used=[m.text for m in event.memories])

    async def load_memory_lines(self) -> None:
        """Show the stored memories of finished replies that do not show them yet."""
        for widget in self.chat.message_widgets():
            m = widget.record
            line = widget.memory_line
            if m.role != "assistant" or m.status == "streaming" or line.loaded:
                continue
            used = await self.backend.memory.message_memories(m.id)
            line.loaded = True
            if widget.is_attached:
                line.show([u.text for u in used])

    # proposals ---------------------------------------------------------------
    @work(group="memory", exit_on_error=False)
    async def action_suggest_memories(self) -> None:
        conv = self.conversation
        if conv is None:
            self.notify("No conversation to suggest memories from", severity="warning")
            return
        await self._propose(conv, asked=True)

    def left_conversation(self, conv: Conversation | None) -> None:
        """The user moved on from ``conv``: propose memories from it when
        the model may (once per conversation and session)."""
        proposed = self.__dict__.setdefault("_proposed", set())
        if conv is None or conv.incognito or conv.id in proposed:
            return
        proposed.add(conv.id)
        self._propose_quietly(conv)

    @work(group="memory", exit_on_error=False)
    async def _propose_quietly(self, conv: Conversation) -> None:
        try:
            if not await self.backend.memory.model_writes(conv.id):
                return
        except AssistantError:
            return
        await self._propose(conv, asked=False)

    async def _propose(self, conv: Conversation, asked: bool) -> None:
        try:
            if asked:
                self.notify("Asking the model what to remember…", timeout=3)
            proposals = await self.backend.memory.propose_memories(conv.id)
        except (AssistantError, ValueError) as err:
            if asked:
                self.report(err)
            return
        if not proposals:
            if asked:
                self.notify("Nothing to remember from this chat")
            return
        chosen = await self.app.push_screen_wait(MemoryProposalsScreen(proposals))
        for text in chosen or []:
            try:
                await self.backend.memory.add_memory(text, source="model", conversation_id=conv.id)
            except (AssistantError, ValueError) as err:
                self.report(err)
                return
        if chosen:
            self.notify(f"Remembered {len(chosen)} new fact{'s' if len(chosen) != 1 else ''}")
