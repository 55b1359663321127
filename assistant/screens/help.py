"""Every key, grouped by where it works, as the keymap has them now."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from assistant import keys

SCOPES = {
    "app": "Anywhere",
    "main": "Chat",
    "message": "Message",
    "composer": "Composer",
}


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [("escape,f1,q", "dismiss", "Close")]

    def __init__(self, keymap: Mapping[str, str]) -> None:
        super().__init__(classes="dialog-screen")
        self.keymap = dict(keymap)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="help"):
            yield Label("Keys", classes="dialog-title")
            yield Static(
                "Remap any action in config.toml under [ui.keybindings], e.g. "
                'new_conversation = "ctrl+n". ctrl+p opens the command palette; '
                "every action is there too. Message keys work on a focused message "
                "(alt+up or tab reaches one, ↑ ↓ move between them). "
                "Documents: ctrl+d answers this chat from your indexed folders (F3); "
                "start a question with @folder (the folder's name) to search only that "
                "folder; s on a reply goes to its sources, Enter opens one (o opens the "
                "file in $EDITOR, c copies the passage). "
                "Tools: ctrl+o switches them for this chat; a call that changes something "
                "asks first (o once, a for this chat, d or Esc deny).",
                classes="dialog-hint",
                markup=False,
            )
            yield DataTable(id="keys", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Key", "Action", "Id", "What it does")
        for scope, heading in SCOPES.items():
            table.add_row(Content.styled(heading, "bold $accent"), "", "", "")
            for a in keys.ACTIONS:
                if a.scope != scope:
                    continue
                key = keys.key_for(a.id, self.keymap)
                table.add_row(keys.display_key(key) or "—", a.title, a.id, a.help)
        table.add_row("ctrl+p", "Command palette", "", "Search and run any action")
        table.focus()
