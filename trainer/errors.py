"""Errors a tune-up can raise, in the backend's one hierarchy (so the TUI
shows them in a modal and the CLI prints ``title: message``)."""

from __future__ import annotations

from backend.common.errors import AdapterError, AssistantError

__all__ = ["AdapterError", "NotEnoughDataError", "TrainingCancelled"]


class NotEnoughDataError(AssistantError):
    """The chat history holds too few examples to tune on (the message says
    how many there are, how many are needed and how to get more)."""

    title = "Not enough tune-up data"


class TrainingCancelled(AssistantError):
    """The user stopped a tune-up; its partial run directory was removed."""

    title = "Tune-up cancelled"
