"""Tool calls in the chat: the per-chat switch, live calls, approvals and
the calls of replies from history.

A mixin for ``MainScreen``, like ``DocumentsMode``:

* ``ctrl+o`` (action ``toggle_tools``) turns tool calling on or off for this
  conversation (stored on it by the backend); the status line says
  ``tools: on`` / ``tools: off``.
* ``ChatActions.write_reply`` hands the stream's ``ToolCallProposed`` and
  ``ToolCallFinished`` events here: each call becomes a block above the
  reply's text (``assistant.widgets.tool_call``).
* A call that needs approval opens ``ToolApprovalScreen`` *without waiting
  on it*: the answer goes to ``ReplyStream.answer_tool`` from the modal's
  callback, so the stream's loop keeps handling events meanwhile (only the
  backend's thread waits). Stopping the reply, or the stream ending, closes
  the modal; the backend counts a stopped reply as a refusal.
* Replies loaded from history show their stored calls, collapsed
  (``AssistantAPI.message_tool_calls``, once per widget).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from textual import work

from assistant.screens.tool_approval import ToolApprovalScreen
from assistant.widgets.chat_view import ChatView
from assistant.widgets.message import MessageWidget
from backend import AssistantAPI, AssistantError
from backend.api import Conversation, ReplyStream
from backend.api import ToolChoice as Choice
from backend.common.events import ToolCallFinished, ToolCallProposed

if TYPE_CHECKING:
    from textual.screen import Screen

    _Base = Screen[None]
else:
    _Base = object


class ToolsMode(_Base):
    backend: AssistantAPI
    conversation: Conversation | None
    tools_on: bool = True
    tools_text: str = "tools: on"
    _approval: ToolApprovalScreen | None = None

    # provided by MainScreen
    @property
    def chat(self) -> ChatView:
        raise NotImplementedError

    def report(self, err: Exception) -> None: ...
    def update_status(self) -> None: ...
    def load(self, conversation_id: int | None = None, reopen: bool = False) -> Any: ...

    # the switch ----------------------------------------------------------
    async def refresh_tools(self) -> None:
        """Recompute the effective setting and the indicator (for ``update_status``)."""
        conv = self.conversation
        if conv is None:
            self.tools_on = self.backend.settings.tools.enabled
        else:
            self.tools_on = await self.backend.tools.tools_enabled(conv.id)
        self.tools_text = "tools: " + ("on" if self.tools_on else "off")
        if self.tools_on and not await self.backend.tools.tools_supported(
            conv.id if conv else None
        ):
            self.tools_text = "tools: n/a"  # the model cannot constrain its output

    @work(group="conversation", exit_on_error=False)
    async def action_toggle_tools(self) -> None:
        try:
            conv = self.conversation or await self.backend.conversations.create_conversation()
            effective = await self.backend.tools.tools_enabled(conv.id)
            self.conversation = await self.backend.tools.set_conversation_tools(
                conv.id, not effective
            )
            await self.refresh_tools()
        except (AssistantError, ValueError) as err:
            self.report(err)
            return
        self.update_status()
        self.load(conv.id)
        self.notify(f"Tools for this chat: {'on' if self.tools_on else 'off'}")

    # live calls ----------------------------------------------------------
    async def tool_proposed(
        self, stream: ReplyStream, widget: MessageWidget | None, event: ToolCallProposed
    ) -> None:
        if widget is not None and widget.is_attached:
            await widget.tool_calls.proposed(event)
        if event.needs_approval:
            self.close_approval()
            screen = ToolApprovalScreen(event)
            self._approval = screen
            self.app.push_screen(screen, partial(self._answered, stream, widget, event.call_id))

    async def tool_finished(self, widget: MessageWidget | None, event: ToolCallFinished) -> None:
        if self._approval is not None and self._approval.call_id == event.call_id:
            self.close_approval()  # answered some other way (the reply was stopped)
        if widget is not None and widget.is_attached:
            await widget.tool_calls.finished(event)

    def _answered(
        self,
        stream: ReplyStream,
        widget: MessageWidget | None,
        call_id: str,
        choice: Choice | None,
    ) -> None:
        if self._approval is not None and self._approval.call_id == call_id:
            self._approval = None
        if choice is None:  # closed by the screen: the reply was stopped
            return
        if choice != "deny" and widget is not None and widget.is_attached:
            block = widget.tool_calls.block(call_id)
            if block is not None:
                block.set_state("running")
        try:
            stream.answer_tool(call_id, choice)
        except ValueError as err:
            self.report(err)

    def close_approval(self) -> None:
        """Close the approval modal, if one is open (its answer is None)."""
        screen, self._approval = self._approval, None
        if screen is None or screen not in self.app.screen_stack:
            return
        if self.app.screen is not screen:
            screen.pop_until_active()
        screen.dismiss(None)

    # history -------------------------------------------------------------
    async def load_tool_calls(self) -> None:
        """Show the stored calls of finished replies that do not show them yet."""
        for widget in self.chat.message_widgets():
            m = widget.record
            panel = widget.tool_calls
            if m.role != "assistant" or m.status == "streaming" or panel.loaded:
                continue
            calls = await self.backend.tools.message_tool_calls(m.id)
            if widget.is_attached:
                await panel.show(calls)
