"""One request of the log in full (Enter on a row of the request log): the
prompt versions it used, the model file and its hash, the parameters, the
messages exactly as sent and the output -- what ``assistant log show``
prints -- and ``r`` replays it (``assistant replay``) and shows whether the
reply came back identical, with the diff when it did not. Hidden calls
(condense, rewrite, summaries, tool decisions) show and replay the same way.
"""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static, TextArea

from assistant.request_detail import detail_text, replay_text
from backend import AssistantAPI, AssistantError


class RequestDetailScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape", "dismiss", "Close"),
        ("r", "replay", "Replay"),
    ]

    def __init__(self, backend: AssistantAPI, request_id: int) -> None:
        super().__init__(classes="dialog-screen")
        self.backend = backend
        self.request_id = request_id
        self.shown = ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide", id="request-detail"):
            yield Label(f"Request {self.request_id}", classes="dialog-title")
            yield TextArea("Loading…", id="request-text", read_only=True, soft_wrap=True)
            yield Static(
                "r replays it with the same prompts, model and parameters · Esc closes",
                id="request-note",
                classes="dialog-hint",
            )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()
        self.load()

    @work(exclusive=True, group="request-detail", exit_on_error=False)
    async def load(self) -> None:
        try:
            detail = await self.backend.telemetry.request_detail(self.request_id)
        except AssistantError as err:
            self.query_one(TextArea).load_text(str(err))
            return
        self.shown = detail_text(detail)
        self.query_one(TextArea).load_text(self.shown)
        if detail.model_name is None:
            note = "This stage called no model: nothing to replay · Esc closes"
            self.query_one("#request-note", Static).update(note)

    def action_replay(self) -> None:
        self.query_one("#request-note", Static).update("Replaying…")
        self.replay()

    @work(exclusive=True, group="request-replay", exit_on_error=False)
    async def replay(self) -> None:
        note = self.query_one("#request-note", Static)
        try:
            result = await self.backend.telemetry.replay(self.request_id)
        except (AssistantError, ValueError) as err:
            note.update(f"Cannot replay: {err}")
            return
        verdict = "identical" if result.identical else "different"
        note.update(f"Replayed as request {result.replay_request_id}: {verdict} · Esc closes")
        self.shown += "\n\n=== replay\n" + replay_text(result)
        area = self.query_one(TextArea)
        area.load_text(self.shown)
        area.scroll_end(animate=False)
