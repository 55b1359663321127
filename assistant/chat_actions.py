"""Streaming replies on the chat screen (the per-message actions are in
``assistant.message_actions``, which this mixin builds on).

A mixin for ``MainScreen`` so that the screen module stays about conversations.
A reply streams in one exclusive worker (group ``chat``) that iterates the
backend's ``ReplyStream``; the model runs in the backend's own thread, so the
event loop only ever awaits queue items and Markdown appends.

A reply that answers from documents shows its retrieval under the body as
the events arrive (``SourcesRetrieved`` before the first token,
``CitationsParsed`` after ``Done``); replies loaded from history get their
sources from ``AssistantAPI.message_sources`` once per widget. Choosing a source
opens ``SourceViewerScreen``. Tool-call events go to ``ToolsMode``
(``assistant.tools_mode``), which shows the calls and asks for approvals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from textual import work

from assistant.message_actions import MessageActions
from assistant.messages import PromptSubmitted
from assistant.widgets.chat_view import ChatView
from assistant.widgets.composer import Composer
from assistant.widgets.message import MessageWidget, usage_from_record
from assistant.widgets.sources import citation_numbers
from backend import AssistantAPI, AssistantError
from backend.api import Conversation, Message, ReplyStream
from backend.common.events import (
    CitationsParsed,
    ContextMeter,
    ErrorEvent,
    HistorySummarised,
    HistoryTrimmed,
    MessageStarted,
    SourceRef,
    SourceRouted,
    SourcesRetrieved,
    TextDelta,
    ToolCallFinished,
    ToolCallProposed,
    Usage,
)

if TYPE_CHECKING:
    from textual.screen import Screen

    _Base = Screen[None]
else:
    _Base = object


class ChatActions(MessageActions):
    backend: AssistantAPI
    stream: ReplyStream | None = None
    _usage_cache: dict[int, Usage]
    _last_focused: int | None = None

    conversation: Conversation | None
    documents_on: bool

    # provided by MainScreen
    @property
    def conversation_id(self) -> int | None:
        raise NotImplementedError

    @property
    def chat(self) -> ChatView:
        raise NotImplementedError

    def report(self, err: Exception) -> None: ...
    def update_status(self) -> None: ...
    async def update_header(self) -> None: ...
    def load(self, conversation_id: int | None = None, reopen: bool = False) -> Any: ...
    async def scoped_question(self, text: str) -> tuple[str, list[int] | None] | None: ...

    # provided by LongChatMode
    async def context_event(self, event: Any, widget: Any, showing: bool) -> None: ...
    async def load_summary(self) -> None: ...

    # provided by ToolsMode
    async def load_tool_calls(self) -> None: ...
    async def tool_proposed(
        self, stream: ReplyStream, widget: MessageWidget | None, event: ToolCallProposed
    ) -> None: ...
    async def tool_finished(
        self, widget: MessageWidget | None, event: ToolCallFinished
    ) -> None: ...
    def close_approval(self) -> None: ...

    # provided by MemoryMode (/remember, memory events, memories of stored replies)
    def remember_command(self, text: str) -> bool:
        return False

    async def other_event(self, widget: MessageWidget | None, event: object) -> None: ...
    async def load_memory_lines(self) -> None: ...

    # thread --------------------------------------------------------------
    async def usage_for(self, thread: list[Message]) -> dict[int, Usage]:
        cache = self.__dict__.setdefault("_usage_cache", {})
        out = {}
        for m in thread:
            if m.request_id is None or m.status == "streaming":
                continue
            if m.request_id not in cache:
                record = await self.backend.telemetry.request(m.request_id)
                if record is None:
                    continue
                cache[m.request_id] = usage_from_record(record)
            out[m.id] = cache[m.request_id]
        return out

    async def refresh_thread(self, thread: list[Message] | None = None) -> None:
        cid = self.conversation_id
        if cid is None:
            return
        if thread is None:
            thread = await self.backend.conversations.thread(cid)
        await self.chat.show_thread(thread, await self.usage_for(thread))
        await self.load_sources()
        await self.load_tool_calls()
        await self.load_summary()
        await self.load_memory_lines()

    async def load_sources(self) -> None:
        """Show the stored sources of finished replies that do not show them yet."""
        for widget in self.chat.message_widgets():
            m = widget.record
            panel = widget.sources
            if m.role != "assistant" or m.status == "streaming" or panel.loaded:
                continue
            sources = await self.backend.documents.message_sources(m.id)
            if widget.is_attached:
                known = {s.n for s in sources}
                unknown = [n for n in citation_numbers(widget.text) if n not in known]
                await panel.show(m.id, sources, unknown if sources else [])

    # sending ---------------------------------------------------------------
    # (named handlers, not @on: a mixin's @on methods are not collected)
    def on_prompt_submitted(self, event: PromptSubmitted) -> None:
        if not getattr(self.app, "ready", False):
            failed = getattr(self.app, "start_error", None)
            self.notify(
                failed or "Still starting up — try again in a moment",
                severity="error" if failed else "warning",
            )
            return
        if self.stream is not None or self._writing():
            self.notify(
                "A reply is still being written — wait, or press Esc to stop it", severity="warning"
            )
            return
        if self.remember_command(event.text):
            return
        if "@" in event.text:
            self.send_scoped(event.text)
            return
        self.query_one(Composer).clear()
        cid = self.conversation_id
        self.write_reply(lambda: self.backend.chat.send(cid, event.text))

    @work(group="send", exit_on_error=False)
    async def send_scoped(self, text: str) -> None:
        """Send a question whose ``@folder`` tokens scope its search."""
        try:
            scoped = await self.scoped_question(text)
        except AssistantError as err:
            self.report(err)
            return
        if scoped is None:
            return  # the composer keeps the text to fix
        question, folder_ids = scoped
        self.query_one(Composer).clear()
        cid = self.conversation_id
        self.write_reply(
            lambda: self.backend.chat.send(cid, question, folder_ids=folder_ids),
            searching=folder_ids is not None,
        )

    def _writing(self) -> bool:
        return any(w.is_running for w in self.workers_in("chat"))

    def workers_in(self, group: str) -> list[Any]:
        return [w for w in self.app.workers if w.group == group and w.node is self]

    @work(exclusive=True, group="chat", exit_on_error=False)
    async def write_reply(
        self, start: Callable[[], Awaitable[ReplyStream]], searching: bool = False
    ) -> None:
        """Stream a reply; ``searching``: retrieval is expected even if the
        conversation does not answer from documents (a scoped question)."""
        try:
            stream = await start()
        except (AssistantError, ValueError) as err:
            self.report(err)
            return
        self.stream = stream
        self.update_status()
        widget: MessageWidget | None = None
        markdown = None
        parts: list[str] = []
        sources: tuple[SourceRef, ...] = ()
        retrieved = False
        try:
            async for event in stream:
                if isinstance(event, MessageStarted):
                    on_message = isinstance(self.focused, MessageWidget)
                    await self._started(event)
                    widget = self.chat.widget_for(event.assistant_message_id)
                    markdown = (
                        widget.stream(self.backend.settings.ui.stream_fps) if widget else None
                    )
                    if widget is not None:
                        widget.tool_calls.loaded = True  # shown live, not from the store
                    if widget is not None and on_message:
                        widget.focus()  # the reply being regenerated was replaced
                    if widget is not None and (searching or self.documents_on):
                        await widget.sources.searching()
                elif isinstance(event, SourceRouted):
                    if widget is not None and widget.is_attached:
                        widget.show_route(event.chip, event.reason)
                        if event.source == "documents":
                            await widget.sources.searching()
                        else:
                            await widget.sources.cancel_search()
                elif isinstance(event, SourcesRetrieved):
                    sources, retrieved = event.sources, True
                    if widget is not None and widget.is_attached:
                        await widget.sources.retrieved(event)
                elif isinstance(event, CitationsParsed):
                    if widget is not None and widget.is_attached:
                        cited, matched = set(event.cited), set(event.matched)
                        marked = [
                            replace(s, cited=s.n in cited, matched=s.n in matched) for s in sources
                        ]
                        await widget.sources.show(event.message_id, marked, event.unknown)
                elif isinstance(event, ToolCallProposed):
                    await self.tool_proposed(stream, widget, event)
                elif isinstance(event, ToolCallFinished):
                    await self.tool_finished(widget, event)
                elif isinstance(event, TextDelta):
                    if not parts and not retrieved and widget is not None and widget.is_attached:
                        await widget.sources.cancel_search()  # answered without retrieval
                    parts.append(event.text)
                    if markdown is not None and widget is not None and widget.is_attached:
                        await markdown.write(event.text)
                elif isinstance(event, Usage) and widget is not None:
                    widget.usage = event
                elif isinstance(event, HistoryTrimmed | HistorySummarised | ContextMeter):
                    await self.context_event(event, widget, self._showing(stream))
                elif isinstance(event, ErrorEvent):
                    if self._showing(stream):
                        await self.chat.add_notice(f"{event.title}: {event.message}", "error")
                    self.notify(event.message, title=event.title, severity="error")
                else:
                    await self.other_event(widget, event)
        finally:
            self.close_approval()
            if markdown is not None:
                await markdown.stop()
            if widget is not None:
                widget.note_streamed("".join(parts))
            self.stream = None
            self.update_status()
        self.load(self.conversation_id)  # final footers, and the sidebar's new order

    def _showing(self, stream: ReplyStream) -> bool:
        return stream.conversation_id == self.conversation_id

    async def _started(self, event: MessageStarted) -> None:
        if self.conversation_id != event.conversation_id:
            # a new conversation was created by this first message
            self.conversation = await self.backend.conversations.get_conversation(
                event.conversation_id
            )
            await self.backend.conversations.set_state(
                "last_conversation_id", str(event.conversation_id)
            )
            await self.update_header()
            await self.chat.clear()
        await self.refresh_thread()

    def action_stop(self) -> None:
        if self.stream is not None:
            self.stream.cancel()
            self.backend.chat.cancel(self.stream.conversation_id)
            self.close_approval()
