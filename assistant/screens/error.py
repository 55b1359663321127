"""A modal that explains an error; ``fatal`` offers Quit instead of carrying on."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ErrorScreen(ModalScreen[bool]):
    """Dismisses with True when the user chose to quit."""

    BINDINGS: ClassVar[list[BindingType]] = [("escape", "dismiss(False)", "Close")]

    def __init__(self, title: str, message: str, *, fatal: bool = False) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.message = message
        self.fatal = fatal

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -error"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, classes="dialog-body", markup=False)
            with Horizontal(classes="dialog-buttons"):
                if self.fatal:
                    yield Button("Quit", id="quit", variant="error")
                yield Button("Close" if self.fatal else "OK", id="ok", variant="primary")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "quit")
