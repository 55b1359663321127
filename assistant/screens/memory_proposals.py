"""The model's proposed memories after a conversation: the user ticks the
ones to keep; nothing is saved otherwise. Proposals made while documents or
tool output were in the conversation say so, as a tool call's approval does."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, SelectionList, Static

from backend.api import MemoryProposal


class MemoryProposalsScreen(ModalScreen[list[str]]):
    BINDINGS: ClassVar[list[BindingType]] = [("escape", "dismiss([])", "Skip")]

    def __init__(self, proposals: list[MemoryProposal]) -> None:
        super().__init__(classes="dialog-screen")
        self.proposals = proposals

    def compose(self) -> ComposeResult:
        provenance = sorted({p for m in self.proposals for p in m.provenance})
        with Vertical(classes="dialog -wide", id="memory-proposals"):
            yield Label("Remember these?", classes="dialog-title")
            yield Static(
                "The model suggests keeping these facts for later chats. "
                "Tick the ones to remember (space), then Save.",
                classes="dialog-body",
                markup=False,
            )
            if provenance:
                yield Static(
                    f"⚠ This chat contained {' and '.join(provenance)}: check each one.",
                    classes="dialog-body -warning",
                    markup=False,
                )
            yield SelectionList[int](
                *((p.text, i, False) for i, p in enumerate(self.proposals)),
                id="proposal-list",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Skip", id="skip")
                yield Button("Save ticked", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#proposal-list", SelectionList).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "save":
            self.dismiss([])
            return
        ticked = self.query_one("#proposal-list", SelectionList).selected
        self.dismiss([self.proposals[i].text for i in sorted(ticked)])
