"""Asking the user before a tool call with side effects runs.

The chat screen pushes this modal for a ``ToolCallProposed`` with
``needs_approval`` and passes the answer to ``ChatStream.answer_tool``; it
does not wait on the modal, so the reply's events keep being handled (the
backend's thread is the one that waits). Dismissed with ``"once"``,
``"conversation"`` or ``"deny"``, or with ``None`` when the screen closed it
because the reply was stopped (a stopped reply refuses the call by itself).

Deny is the focused button and Escape denies: the safe answer is the
easiest one.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from assistant.widgets.tool_call import pretty_arguments, source_label
from backend.api import ToolChoice as Choice
from backend.common.events import ToolCallProposed

_CHOICES: dict[str, Choice] = {"once": "once", "conversation": "conversation", "deny": "deny"}


class ToolApprovalScreen(ModalScreen[Choice | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        ("o", "choose('once')", "Allow once"),
        ("a", "choose('conversation')", "Allow for this chat"),
        ("d,escape", "choose('deny')", "Deny"),
    ]

    def __init__(self, call: ToolCallProposed) -> None:
        super().__init__(classes="dialog-screen")
        self.call = call

    @property
    def call_id(self) -> str:
        return self.call.call_id

    def compose(self) -> ComposeResult:
        call = self.call
        with Vertical(classes="dialog -wide", id="tool-approval"):
            yield Label(f"Allow {call.name}?", classes="dialog-title")
            what = f"The assistant wants to run {call.name} ({source_label(call.source)})."
            if call.side_effects:
                what += " It has side effects: it changes things on this machine."
            yield Static(
                what,
                classes="dialog-body",
                markup=False,
            )
            if call.provenance:
                yield Static(
                    "⚠ Proposed after the assistant read "
                    + ", ".join(call.provenance)
                    + ". That text is not yours and may be trying to make the assistant "
                    "act: allow only if this is what you asked for.",
                    classes="dialog-body tool-provenance",
                    markup=False,
                )
            yield Label("Arguments", classes="tool-approval-heading")
            with VerticalScroll(classes="tool-arguments"):
                yield Static(pretty_arguments(call.arguments), markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Deny (d)", id="deny", variant="error")
                yield Button("Allow for this chat (a)", id="conversation")
                yield Button("Allow once (o)", id="once", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#deny").focus()

    def action_choose(self, choice: Choice) -> None:
        self.dismiss(choice)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(_CHOICES.get(event.button.id or "", "deny"))
