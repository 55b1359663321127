"""The scrolling list of messages of the active branch, plus notices.

``show_thread`` keeps the widgets of messages that are still on the branch
(only their footer or, if edited, their text changes) so switching a branch
or finishing a reply does not re-render the whole conversation.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.containers import VerticalScroll
from textual.widgets import Static

from assistant.widgets.message import MessageWidget
from backend.api import Message
from backend.common.events import Usage

WELCOME = (
    "[b]Ask anything.[/b] Your chats stay on this machine.\n\n"
    "Enter sends · ctrl+j adds a line · Esc stops a reply · F1 lists every key · "
    "ctrl+p opens the command palette"
)


class Notice(Static):
    """A line in the chat that is not a message (trimmed history, errors)."""

    def __init__(self, text: str, kind: str = "info") -> None:
        super().__init__(text, classes=f"notice -{kind}", markup=False)


class ChatView(VerticalScroll, can_focus=False):
    def on_mount(self) -> None:
        self.anchor()

    def message_widgets(self) -> list[MessageWidget]:
        return list(self.query_children(MessageWidget))

    def widget_for(self, message_id: int) -> MessageWidget | None:
        for w in self.message_widgets():
            if w.message_id == message_id:
                return w
        return None

    async def show_thread(self, thread: list[Message], usage: Mapping[int, Usage]) -> None:
        """Show ``thread`` (oldest first); ``usage`` maps message id to its usage."""
        await self.query_children(".welcome").remove()
        existing = {w.message_id: w for w in self.message_widgets()}
        wanted = {m.id for m in thread}
        stale = [w for mid, w in existing.items() if mid not in wanted]
        if stale:
            await self.remove_children(stale)
        previous: MessageWidget | None = None
        for message in thread:
            widget = existing.get(message.id)
            if widget is None:
                widget = MessageWidget(message, usage.get(message.id))
                if previous is None:
                    await self.mount(widget, before=0)
                else:
                    await self.mount(widget, after=previous)
            else:
                await widget.update_from(message, usage.get(message.id))
            previous = widget
        if not thread:
            await self.mount(Static(WELCOME, classes="welcome"))
        self.scroll_end(animate=False)

    async def clear(self) -> None:
        await self.remove_children()
        await self.mount(Static(WELCOME, classes="welcome"))

    async def add_notice(
        self, text: str, kind: str = "info", before: MessageWidget | None = None
    ) -> None:
        if before is not None:
            await self.mount(Notice(text, kind), before=before)
        else:
            await self.mount(Notice(text, kind))
        self.scroll_end(animate=False)
