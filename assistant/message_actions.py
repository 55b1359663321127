"""The per-message actions of the chat screen: copy, copy code, edit,
regenerate, thumbs, branches and sources, from a message's keys, its
footer or the palette (which applies them to the focused or latest
message). A mixin under ``ChatActions``, which streams the replies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work

from assistant.clipboard import copy_text
from assistant.messages import MessageActionRequested, MessageFocused
from assistant.screens.edit_text import EditTextScreen
from assistant.screens.source_viewer import SourceViewerScreen
from assistant.widgets.chat_view import ChatView
from assistant.widgets.message import MessageWidget, last_code_block
from assistant.widgets.sources import SourceOpened
from backend import AssistantAPI, AssistantError
from backend.api import Message, ReplyStream

if TYPE_CHECKING:
    from textual.screen import Screen

    _Base = Screen[None]
else:
    _Base = object

# Actions that make the model write: refused while a reply is being written.
_WRITING = {"regenerate"}
_BUSY = "A reply is still being written — press Esc to stop it first"


class MessageActions(_Base):
    backend: AssistantAPI
    stream: ReplyStream | None = None
    _last_focused: int | None = None

    if TYPE_CHECKING:  # provided by ChatActions and MainScreen

        @property
        def chat(self) -> ChatView: ...
        def _writing(self) -> bool: ...
        def report(self, err: Exception) -> None: ...
        def load(self, conversation_id: int | None = None, reopen: bool = False) -> Any: ...
        async def refresh_thread(self, thread: list[Message] | None = None) -> None: ...
        def write_reply(self, start: Any, searching: bool = False) -> Any: ...

    # per-message actions ---------------------------------------------------
    def on_message_focused(self, event: MessageFocused) -> None:
        self._last_focused = event.message_id

    def target(self, action: str) -> MessageWidget | None:
        """The message a palette action applies to: the focused (or last focused)
        one, else the latest message that the action makes sense for."""
        widgets = self.chat.message_widgets()
        if isinstance(self.focused, MessageWidget):
            return self.focused
        for w in widgets:
            if w.message_id == self._last_focused:
                return w
        role = "user" if action == "edit_message" else "assistant"
        if action in ("branch_prev", "branch_next"):
            branched = [w for w in widgets if w.record.sibling_count > 1]
            return branched[-1] if branched else None
        if action == "copy_message":
            return widgets[-1] if widgets else None
        matching = [w for w in widgets if w.record.role == role]
        return matching[-1] if matching else None

    def action_message(self, action: str) -> None:
        widget = self.target(action)
        if widget is None:
            self.notify("No message to apply that to", severity="warning")
            return
        self.post_message(MessageActionRequested(widget.message_id, action))

    def action_branch(self, message_id: int, direction: str) -> None:
        """Clicks on the footer's ‹ › ('prev' / 'next')."""
        self.post_message(MessageActionRequested(message_id, f"branch_{direction}"))

    def on_message_action_requested(self, event: MessageActionRequested) -> None:
        widget = self.chat.widget_for(event.message_id)
        if widget is None:
            return
        if event.action in _WRITING and (self.stream is not None or self._writing()):
            self.notify(_BUSY, severity="warning")
            return
        self.run_message_action(widget, event.action)

    @work(group="message-action", exit_on_error=False)
    async def run_message_action(self, widget: MessageWidget, action: str) -> None:
        m = widget.record
        try:
            match action:
                case "copy_message":
                    await self._copy(widget.text, "message")
                case "copy_code":
                    code = last_code_block(widget.text)
                    if code is None:
                        self.notify("This message has no code block", severity="warning")
                    else:
                        await self._copy(code, "code block")
                case "regenerate":
                    self.write_reply(lambda: self.backend.chat.regenerate(m.id))
                case "edit_message":
                    await self._edit(m)
                case "thumbs_up" | "thumbs_down":
                    if m.role != "assistant":
                        self.notify("Only replies can be rated", severity="warning")
                        return
                    wanted = 1 if action == "thumbs_up" else -1
                    await self.backend.conversations.rate(m.id, 0 if m.rating == wanted else wanted)
                    await self.refresh_thread()
                case "show_sources":
                    if not widget.sources.focus_first():
                        self.notify("This reply has no sources", severity="warning")
                case "branch_prev" | "branch_next":
                    if m.sibling_count < 2:
                        self.notify("This message has no other versions", severity="warning")
                        return
                    step = -1 if action == "branch_prev" else 1
                    await self.refresh_thread(
                        await self.backend.conversations.switch_branch(m.id, step)
                    )
                    self._refocus(m.parent_id, m.role)
        except (AssistantError, ValueError) as err:
            self.report(err)

    def on_source_opened(self, event: SourceOpened) -> None:
        self.app.push_screen(SourceViewerScreen(self.backend, event.message_id, event.source))

    def _refocus(self, parent_id: int | None, role: str) -> None:
        for w in self.chat.message_widgets():
            if w.record.parent_id == parent_id and w.record.role == role:
                w.focus()
                self._last_focused = w.message_id

    async def _copy(self, text: str, what: str) -> None:
        how = await copy_text(self.app, text)
        self.notify(f"Copied {what}" + (" (via terminal)" if how == "terminal" else ""), timeout=2)

    async def _edit(self, m: Message) -> None:
        if m.role == "user":
            if self.stream is not None or self._writing():
                self.notify(_BUSY, severity="warning")
                return
            text = await self.app.push_screen_wait(
                EditTextScreen(
                    "Edit and resend",
                    m.content,
                    save_label="Resend",
                    hint="Creates a new branch; the old one stays (‹ › switches).",
                )
            )
            if text is not None and text.strip() and text != m.content:
                self.write_reply(lambda: self.backend.chat.edit_and_resend(m.id, text))
            return
        text = await self.app.push_screen_wait(
            EditTextScreen(
                "Edit reply",
                m.display_content,
                hint="Stored as your preferred version of this reply (used for tune-ups).",
            )
        )
        if text is not None and text != m.display_content:
            await self.backend.conversations.edit_reply(m.id, text)
            await self.refresh_thread()
            self.notify("Reply edited")
