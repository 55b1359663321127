"""Create, edit and delete system-prompt presets (personas)."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ListItem, ListView, TextArea

from backend import AssistantAPI, AssistantError
from backend.api import Preset


class PresetItem(ListItem):
    def __init__(self, preset: Preset) -> None:
        suffix = " (built-in)" if preset.builtin else ""
        super().__init__(Label(preset.name + suffix, markup=False))
        self.preset = preset


class PresetsScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape", "dismiss", "Close"),
        ("ctrl+s", "save", "Save"),
    ]

    def __init__(self, backend: AssistantAPI) -> None:
        super().__init__(classes="dialog-screen")
        self.backend = backend

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide", id="presets"):
            yield Label("Presets", classes="dialog-title")
            with Horizontal(id="preset-editor"):
                yield ListView(id="preset-list")
                with Vertical(id="preset-form"):
                    yield Input(placeholder="Preset name", id="preset-name")
                    yield TextArea(id="preset-prompt", soft_wrap=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button("New", id="new")
                yield Button("Delete", id="delete", variant="error")
                yield Button("Save (ctrl+s)", id="save", variant="primary")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        self.reload()

    @work(exclusive=True, group="presets", exit_on_error=False)
    async def reload(self, select: str | None = None) -> None:
        try:
            presets = await self.backend.conversations.presets()
        except AssistantError as err:
            self.notify(str(err), title=err.title, severity="error")
            return
        view = self.query_one("#preset-list", ListView)
        await view.clear()
        await view.extend(PresetItem(p) for p in presets)
        names = [p.name for p in presets]
        if select in names:
            view.index = names.index(select)
        elif presets:
            view.index = 0
            self._show(presets[0])

    def _show(self, preset: Preset | None) -> None:
        self.query_one("#preset-name", Input).value = preset.name if preset else ""
        self.query_one("#preset-prompt", TextArea).text = preset.system_prompt if preset else ""

    @on(ListView.Highlighted, "#preset-list")
    def _highlighted(self, event: ListView.Highlighted) -> None:
        if isinstance(event.item, PresetItem):
            self._show(event.item.preset)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        match event.button.id:
            case "new":
                self._show(None)
                self.query_one("#preset-name", Input).focus()
            case "save":
                self.action_save()
            case "delete":
                self.delete(self.query_one("#preset-name", Input).value.strip())
            case _:
                self.dismiss()

    def action_save(self) -> None:
        name = self.query_one("#preset-name", Input).value.strip()
        if not name:
            self.notify("A preset needs a name", severity="warning")
            return
        self.save(name, self.query_one("#preset-prompt", TextArea).text)

    @work(group="presets-write", exit_on_error=False)
    async def save(self, name: str, prompt: str) -> None:
        try:
            await self.backend.conversations.save_preset(name, prompt)
        except (AssistantError, ValueError) as err:
            self.notify(str(err), title="Cannot save preset", severity="error")
            return
        self.notify(f"Saved preset “{name}”")
        self.reload(name)

    @work(group="presets-write", exit_on_error=False)
    async def delete(self, name: str) -> None:
        try:
            await self.backend.conversations.delete_preset(name)
        except (AssistantError, ValueError) as err:
            self.notify(str(err), title="Cannot delete preset", severity="error")
            return
        self.notify(f"Deleted preset “{name}”")
        self.reload()
