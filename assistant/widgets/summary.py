"""The summary that stands for a long conversation's oldest messages.

Shown in the chat after the last message it covers, marked as a summary,
focusable like a message; ``e`` asks the screen to edit it (the screen owns
the backend call).
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import BindingType
from textual.widgets import Static

from assistant.messages import SummaryEditRequested
from backend.api import ConversationSummary


def summary_text(summary: ConversationSummary) -> str:
    n = summary.covered
    edited = ", edited" if summary.edited else ""
    head = f"Summary of {n} earlier message{'s' if n != 1 else ''}{edited} (e edits)"
    return f"{head}\n{summary.content}"


class SummaryWidget(Static, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [("e", "edit", "Edit summary")]

    def __init__(self, summary: ConversationSummary) -> None:
        super().__init__(summary_text(summary), classes="summary", markup=False)
        self.summary = summary

    def show(self, summary: ConversationSummary) -> None:
        self.summary = summary
        self.update(summary_text(summary))

    def action_edit(self) -> None:
        self.post_message(SummaryEditRequested(self.summary.conversation_id))
