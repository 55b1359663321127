"""Pick one item from a list (model, preset, theme)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option


class PickerScreen(ModalScreen[str | None]):
    """``choices`` are (id, label) pairs; dismisses with the chosen id or None.
    ``unavailable`` lines follow the choices, disabled (say, runtimes that
    are down, with the reason)."""

    BINDINGS: ClassVar[list[BindingType]] = [("escape", "dismiss(None)", "Cancel")]

    def __init__(
        self,
        title: str,
        choices: list[tuple[str, str]],
        current: str | None = None,
        hint: str = "",
        unavailable: tuple[str, ...] = (),
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.choices = choices
        self.current = current
        self.hint = hint
        self.unavailable = unavailable

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.hint:
                yield Static(self.hint, classes="dialog-hint", markup=False)
            yield OptionList(
                *(
                    Option(("● " if cid == self.current else "  ") + label, id=cid)
                    for cid, label in self.choices
                ),
                *(Option("  ✕ " + line, disabled=True) for line in self.unavailable),
                id="choices",
            )

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        ids = [cid for cid, _ in self.choices]
        if self.current in ids:
            options.highlighted = ids.index(self.current)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
