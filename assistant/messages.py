"""Messages the widgets post to the screens (small dataclasses).

Widgets never call the backend: they render and say what the user asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class PromptSubmitted(Message):
    """The user pressed Enter in the composer."""

    text: str


@dataclass
class ConversationSelected(Message):
    conversation_id: int


@dataclass
class NewConversationRequested(Message):
    pass


@dataclass
class SearchChanged(Message):
    """The sidebar's search box changed (empty: back to the list)."""

    query: str


@dataclass
class SearchHitChosen(Message):
    conversation_id: int
    message_id: int


@dataclass
class MessageActionRequested(Message):
    """A per-message action (``copy_message``, ``regenerate``, ...) on one message."""

    message_id: int
    action: str


@dataclass
class MessageFocused(Message):
    """A message got focus: palette actions apply to it from now on."""

    message_id: int


@dataclass
class SummaryEditRequested(Message):
    """The user wants to rewrite the summary of conversation ``conversation_id``."""

    conversation_id: int
