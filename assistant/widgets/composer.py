"""The message box: a multi-line TextArea where Enter sends.

``ctrl+j`` (and ``shift+enter`` where the terminal reports it) inserts a line
break; both keys are remappable bindings (ids ``send`` and ``newline``).
"""

from __future__ import annotations

from textual.widgets import TextArea

from assistant import keys
from assistant.messages import PromptSubmitted


class Composer(TextArea):
    BINDINGS = keys.bindings("composer")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, soft_wrap=True, show_line_numbers=False, tab_behavior="focus",
                         placeholder="Ask anything — Enter sends, ctrl+j adds a line")

    def action_send(self) -> None:
        text = self.text
        if text.strip():
            self.post_message(PromptSubmitted(text))

    def action_newline(self) -> None:
        self.insert("\n")
