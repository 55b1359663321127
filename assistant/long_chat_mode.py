"""Long conversations on the chat screen: the context meter in the status
line, the notice when old messages were summarised (or left out), the
summary shown after the messages it stands for and editable with ``e``,
and citations of past conversations, which open that conversation at the
cited message.

A mixin for ``MainScreen``, like ``assistant.documents_mode``; every
backend call runs in a worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work

from assistant.messages import SummaryEditRequested
from assistant.screens.edit_text import EditTextScreen
from assistant.widgets.chat_view import ChatView
from assistant.widgets.message import MessageWidget
from assistant.widgets.sources import SourceOpened
from assistant.widgets.summary import SummaryWidget
from backend import AssistantAPI, AssistantError
from backend.api import Conversation
from backend.common.events import ContextMeter, HistorySummarised, HistoryTrimmed

if TYPE_CHECKING:
    from textual.screen import Screen

    _Base = Screen[None]
else:
    _Base = object


class LongChatMode(_Base):
    backend: AssistantAPI
    conversation: Conversation | None
    meter: ContextMeter | None = None

    # provided by MainScreen (a stub here would shadow ChatActions: it comes later)
    @property
    def chat(self) -> ChatView:
        raise NotImplementedError

    def report(self, err: Exception) -> None: ...
    def update_status(self) -> None: ...
    def open_hit(self, conversation_id: int, message_id: int) -> Any: ...

    @property
    def context_text(self) -> str:
        """``ctx 812/2048`` after a reply of this conversation, else empty."""
        m = self.meter
        return f" · ctx {m.used_tokens}/{m.context_tokens}" if m else ""

    async def context_event(
        self,
        event: ContextMeter | HistorySummarised | HistoryTrimmed,
        widget: MessageWidget | None,
        showing: bool,
    ) -> None:
        """One of the reply's context events (``showing``: its conversation
        is the one on screen)."""
        if not showing:
            return
        before = widget if widget is not None and widget.is_attached else None
        if isinstance(event, ContextMeter):
            self.meter = event
            self.update_status()
        elif isinstance(event, HistorySummarised):
            n = event.summarised_messages
            await self.chat.add_notice(
                f"{n} earlier message{'s' if n != 1 else ''} summarised to fit the "
                f"context window ({event.context_tokens} tokens)",
                "info",
                before=before,
            )
        else:
            n = event.dropped_messages
            await self.chat.add_notice(
                f"{n} older message{'s' if n != 1 else ''} left out to fit the "
                f"context window ({event.context_tokens} tokens)",
                "warning",
                before=before,
            )

    async def load_summary(self) -> None:
        """Show the conversation's summary after the last message it covers."""
        await self.chat.query(SummaryWidget).remove()
        conv = self.conversation
        if conv is None:
            return
        summary = await self.backend.conversations.conversation_summary(conv.id)
        after = self.chat.widget_for(summary.through_message_id) if summary else None
        if summary is not None and after is not None:
            await self.chat.mount(SummaryWidget(summary), after=after)

    def on_source_opened(self, event: SourceOpened) -> None:
        """A past conversation's citation opens it at the cited message;
        a document's goes on to the source viewer (Textual calls the
        handler of every class in the MRO, ``ChatActions``'s next, unless
        the default is prevented)."""
        s = event.source
        if s.kind == "conversation" and s.conversation_id and s.conversation_message_id:
            event.prevent_default()
            self.meter = None
            self.open_hit(s.conversation_id, s.conversation_message_id)

    def on_summary_edit_requested(self, event: SummaryEditRequested) -> None:
        self.edit_summary(event.conversation_id)

    @work(group="summary", exit_on_error=False)
    async def edit_summary(self, conversation_id: int) -> None:
        try:
            summary = await self.backend.conversations.conversation_summary(conversation_id)
            if summary is None:
                return
            text = await self.app.push_screen_wait(
                EditTextScreen(
                    "Edit summary",
                    summary.content,
                    hint="Sent instead of the earlier messages from the next reply on.",
                )
            )
            if text is None or not text.strip() or text == summary.content:
                return
            await self.backend.conversations.edit_summary(conversation_id, text)
        except (AssistantError, ValueError) as err:
            self.report(err)
            return
        await self.load_summary()
        self.notify("Summary edited")
