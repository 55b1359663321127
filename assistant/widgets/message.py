"""One chat message: a role label, the Markdown body and a footer line.

Assistant replies stream into the body through ``Markdown.get_stream`` so
each token appends to the document instead of re-rendering the message.
The footer shows usage and timings, status, branch ("‹ 2/3 ›"), thumbs and
an "edited" marker; an action bar appears while the message has focus.
A reply shows the source it consulted as a small chip under the body
("source: documents (python docs)", the router's reason as its tooltip).
A reply that answered from the user's documents shows its sources under the
body (``assistant.widgets.sources.SourcesPanel``); a reply that called tools
shows the calls above it (``assistant.widgets.tool_call.ToolCallsPanel``).
"""

from __future__ import annotations

import re
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Label, Markdown, Static

from assistant import keys
from assistant.messages import MessageActionRequested, MessageFocused
from assistant.widgets.markdown_stream import (
    DEFAULT_FPS,
    ThrottledMarkdownStream,
    stream_into,
)
from assistant.widgets.sources import SourcesPanel
from assistant.widgets.tool_call import ToolCallsPanel
from backend.api import Message, RequestRecord
from backend.common.events import Usage

_FENCE = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.S | re.M)

ROLE_LABELS = {"user": "You", "assistant": "Assistant", "system": "System", "tool": "Tool"}


def last_code_block(markdown: str) -> str | None:
    """The contents of the last fenced code block, without the fences."""
    blocks = _FENCE.findall(markdown)
    return blocks[-1][1].rstrip("\n") if blocks else None


def usage_from_record(record: RequestRecord) -> Usage:
    return Usage(
        prompt_tokens=record.prompt_tokens or 0,
        completion_tokens=record.completion_tokens or 0,
        ttft_ms=record.ttft_ms or 0.0,
        total_ms=record.total_ms or 0.0,
        prefill_tok_s=record.prefill_tok_s,
        decode_tok_s=record.decode_tok_s,
        cached_tokens=record.cached_tokens or 0,
    )


class MemoryLine(Static):
    """Under a reply: the memories it was given ("Memory used: ..."), or
    what the user's message asked to remember. Hidden when empty."""

    loaded = False

    def __init__(self) -> None:
        super().__init__("", classes="memories", markup=False)
        self.display = False
        self.used: list[str] = []
        self.remembered: str | None = None

    def show(self, used: list[str] | None = None, remembered: str | None = None) -> None:
        """Show ``used`` and/or ``remembered`` (None keeps what is shown)."""
        self.used = self.used if used is None else used
        self.remembered = remembered or self.remembered
        parts = []
        if self.remembered:
            parts.append(f"✓ Remembered: {self.remembered}")
        if self.used:
            parts.append("◇ Memory used: " + "; ".join(self.used))
        self.update("\n".join(parts))
        self.display = bool(parts)


class ActionBar(Static):
    """Clickable per-message actions (the keys do the same)."""

    def action_do(self, action: str) -> None:
        parent = self.parent
        if isinstance(parent, MessageWidget):
            parent.request(action)


class MessageWidget(Vertical, can_focus=True):
    """A message of the active branch. ``message`` is the stored record."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *keys.bindings("message"),
        ("up", "focus_sibling(-1)"),
        ("down", "focus_sibling(1)"),
    ]

    message: reactive[Message | None] = reactive(None, init=False, always_update=True)

    def __init__(self, message: Message, usage: Usage | None = None) -> None:
        super().__init__(classes=f"message -{message.role}")
        self.usage = usage
        self.set_reactive(MessageWidget.message, message)
        self._rendered = message.display_content

    @property
    def record(self) -> Message:
        assert self.message is not None
        return self.message

    @property
    def message_id(self) -> int:
        return self.record.id

    def compose(self) -> ComposeResult:
        yield Label(ROLE_LABELS.get(self.record.role, self.record.role), classes="role")
        yield ToolCallsPanel()
        yield Markdown(self._rendered, classes="body")
        yield SourcesPanel()
        yield MemoryLine()
        route = Static("", classes="route", markup=False)
        route.display = False
        yield route
        yield Static(self.footer_text(), classes="meta")
        yield ActionBar(self.action_text(), classes="actions")

    # rendering -------------------------------------------------------
    def footer_text(self) -> Content:
        m = self.record
        parts: list[Content] = []
        if m.role == "assistant":
            if m.model:
                parts.append(Content(m.model))
            u = self.usage
            if u is not None:
                parts.append(Content(f"{u.prompt_tokens}→{u.completion_tokens} tok"))
                parts.append(Content(f"TTFT {u.ttft_ms:.0f} ms"))
                if u.decode_tok_s:
                    parts.append(Content(f"{u.decode_tok_s:.1f} tok/s"))
        if m.status == "streaming":
            parts.append(Content.styled("writing…", "$accent"))
        elif m.status in ("cancelled", "error"):
            parts.append(Content.styled(m.status, "$error" if m.status == "error" else "$warning"))
        if m.sibling_count > 1:
            parts.append(
                Content.from_markup(
                    f"[@click=screen.branch({m.id},'prev')]‹[/] "
                    f"{m.sibling_index}/{m.sibling_count} "
                    f"[@click=screen.branch({m.id},'next')]›[/]"
                )
            )
        if m.rating > 0:
            parts.append(Content.styled("▲ liked", "$success"))
        elif m.rating < 0:
            parts.append(Content.styled("▼ disliked", "$error"))
        if m.edited_content is not None:
            parts.append(Content.styled("edited", "italic"))
        return Content(" · ").join(parts)

    def action_text(self) -> Content:
        items = [("copy_message", "copy")]
        if self.record.role == "assistant":
            items += [
                ("copy_code", "code"),
                ("regenerate", "regenerate"),
                ("edit_message", "edit"),
                ("thumbs_up", "▲"),
                ("thumbs_down", "▼"),
            ]
        else:
            items += [("edit_message", "edit & resend")]
        if self.record.sibling_count > 1:
            items += [("branch_prev", "‹"), ("branch_next", "›")]
        return Content(" ").join(
            Content.from_markup(f"[@click=do('{a}')] {label} [/]") for a, label in items
        )

    def watch_message(self, message: Message | None) -> None:
        if message is None or not self.is_mounted:
            return
        self.set_class(message.status == "streaming", "-streaming")
        self.query_one(".meta", Static).update(self.footer_text())
        self.query_one(".actions", ActionBar).update(self.action_text())

    async def update_from(self, message: Message, usage: Usage | None) -> None:
        """Show a newer stored version of this message (re-renders text only if it changed)."""
        self.usage = usage if usage is not None else self.usage
        text = message.display_content
        if text != self._rendered:
            self._rendered = text
            await self.query_one(Markdown).update(text)
        self.message = message

    def stream(self, fps: float = DEFAULT_FPS) -> ThrottledMarkdownStream:
        """A stream that appends Markdown to the body as tokens arrive
        (at most ``fps`` times a second, see ``markdown_stream``)."""
        return stream_into(self.query_one(Markdown), fps)

    def note_streamed(self, text: str) -> None:
        """Record what the stream wrote, so a later update does not re-render it."""
        self._rendered = text

    @property
    def text(self) -> str:
        return self._rendered

    def show_route(self, chip: str, reason: str = "") -> None:
        """The source the reply consulted ("source: documents (python docs)"),
        under the body; the reason is its tooltip."""
        route = self.query_one(".route", Static)
        route.update(chip)
        route.tooltip = reason or None
        route.display = bool(chip)

    @property
    def route_text(self) -> str:
        route = self.query_one(".route", Static)
        return str(route.render()) if route.display else ""

    @property
    def sources(self) -> SourcesPanel:
        return self.query_one(SourcesPanel)

    @property
    def memory_line(self) -> MemoryLine:
        return self.query_one(MemoryLine)

    @property
    def tool_calls(self) -> ToolCallsPanel:
        return self.query_one(ToolCallsPanel)

    def on_focus(self) -> None:
        self.post_message(MessageFocused(self.message_id))

    # actions ---------------------------------------------------------
    def request(self, action: str) -> None:
        self.post_message(MessageActionRequested(self.message_id, action))

    def action_copy_message(self) -> None:
        self.request("copy_message")

    def action_copy_code(self) -> None:
        self.request("copy_code")

    def action_regenerate(self) -> None:
        self.request("regenerate")

    def action_edit_message(self) -> None:
        self.request("edit_message")

    def action_thumbs_up(self) -> None:
        self.request("thumbs_up")

    def action_thumbs_down(self) -> None:
        self.request("thumbs_down")

    def action_show_sources(self) -> None:
        self.request("show_sources")

    def action_branch_prev(self) -> None:
        self.request("branch_prev")

    def action_branch_next(self) -> None:
        self.request("branch_next")

    def action_focus_sibling(self, step: int) -> None:
        siblings = (
            [w for w in self.parent.children if isinstance(w, MessageWidget)] if self.parent else []
        )
        index = siblings.index(self) + step
        if 0 <= index < len(siblings):
            siblings[index].focus()
            siblings[index].scroll_visible()
        elif step > 0:
            self.screen.focus_next()
