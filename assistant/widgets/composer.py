"""The message box: a multi-line TextArea where Enter sends.

``ctrl+j`` (and ``shift+enter`` where the terminal reports it) inserts a line
break; both keys are remappable bindings (ids ``send`` and ``newline``).
"""

from __future__ import annotations

from textual import events
from textual.widgets import TextArea

from assistant import keys
from assistant.messages import PromptSubmitted


class Composer(TextArea):
    BINDINGS = keys.bindings("composer")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            placeholder="Ask anything — Enter sends, ctrl+j adds a line",
        )

    def _keys(self, action_id: str) -> set[str]:
        keymap = getattr(self.app, "keymap_overrides", {})
        return {k.strip() for k in keys.key_for(action_id, keymap).split(",")}

    async def _on_key(self, event: events.Key) -> None:
        # Handled here, in the widget's own queue, so a newline lands after the
        # characters typed before it (an app-level binding could overtake them).
        if event.key in self._keys("send"):
            event.stop()
            event.prevent_default()
            self.action_send()
        elif event.key in self._keys("newline"):
            event.stop()
            event.prevent_default()
            self.action_newline()
        else:
            await super()._on_key(event)

    def action_send(self) -> None:
        text = self.text
        if text.strip():
            self.post_message(PromptSubmitted(text))

    def action_newline(self) -> None:
        self.insert("\n")
