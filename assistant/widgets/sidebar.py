"""The conversation list (newest first) with a search box over every chat.

Typing in the search box swaps the list for the hits; choosing a hit or a
conversation posts a message, the screen does the rest.
"""

from __future__ import annotations

import re

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Button, Input, Label, ListItem, ListView

from assistant.messages import (
    ConversationSelected,
    NewConversationRequested,
    SearchChanged,
    SearchHitChosen,
)
from backend.api import Conversation, SearchHit

_MATCH = re.compile(r"\[([^\]]*)\]")


class ConversationItem(ListItem):
    def __init__(self, conversation: Conversation) -> None:
        super().__init__(Label(conversation.title, markup=False))
        self.conversation_id = conversation.id


def snippet_content(hit: SearchHit) -> Content:
    """The hit's snippet with the matched words (``[word]``) highlighted."""
    text = " ".join(hit.snippet.split())
    parts: list[Content] = [Content("You: " if hit.role == "user" else "AI: ")]
    for i, piece in enumerate(_MATCH.split(text)):
        parts.append(Content.styled(piece, "bold $accent") if i % 2 else Content(piece))
    return Content("").join(parts)


class HitItem(ListItem):
    def __init__(self, hit: SearchHit) -> None:
        super().__init__(
            Label(hit.conversation_title, classes="hit-title", markup=False),
            Label(snippet_content(hit), classes="hit-snippet"),
        )
        self.hit = hit


class Sidebar(Vertical):
    def compose(self) -> ComposeResult:
        yield Button("+ New chat", id="new-chat", compact=True)
        yield Input(placeholder="Search all chats…", id="search")
        yield Label("", id="hits-label")
        yield ListView(id="conversations")
        yield ListView(id="hits")

    def on_mount(self) -> None:
        self.query_one("#hits").display = False
        self.query_one("#hits-label").display = False

    async def set_conversations(
        self, conversations: list[Conversation], active: int | None
    ) -> None:
        view = self.query_one("#conversations", ListView)
        await view.clear()
        items = [ConversationItem(c) for c in conversations]
        await view.extend(items)
        for index, item in enumerate(items):
            if item.conversation_id == active:
                view.index = index

    async def show_hits(self, query: str, hits: list[SearchHit]) -> None:
        searching = bool(query.strip())
        view = self.query_one("#hits", ListView)
        self.query_one("#conversations").display = not searching
        view.display = searching
        label = self.query_one("#hits-label", Label)
        label.display = searching
        label.update(f"{len(hits)} hit{'s' if len(hits) != 1 else ''} for “{query.strip()}”")
        await view.clear()
        await view.extend(HitItem(h) for h in hits)
        if hits:
            view.index = 0

    def focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    @on(Button.Pressed, "#new-chat")
    def _new(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(NewConversationRequested())

    @on(Input.Changed, "#search")
    def _search(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(SearchChanged(event.value))

    @on(Input.Submitted, "#search")
    def _to_hits(self, event: Input.Submitted) -> None:
        event.stop()
        hits = self.query_one("#hits", ListView)
        if hits.display and hits.children:
            hits.focus()

    @on(ListView.Selected)
    def _selected(self, event: ListView.Selected) -> None:
        event.stop()
        item = event.item
        if isinstance(item, ConversationItem):
            self.post_message(ConversationSelected(item.conversation_id))
        elif isinstance(item, HitItem):
            self.post_message(SearchHitChosen(item.hit.conversation_id, item.hit.message_id))

    def clear_search(self) -> None:
        self.query_one("#search", Input).value = ""
