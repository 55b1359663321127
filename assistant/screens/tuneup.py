"""Tune-ups: train the model on the user's own edits and thumbs, see whether
it helped, use it or roll back.

``s`` starts an SFT tune-up and ``d`` a DPO one (``p`` only previews the
data a tune-up would use); the job runs in its own process (the facade's
``start_tuneup``) while this screen follows its reports in a worker: a
progress bar with step, loss and ETA, then the before/after verdict. The
chat stays usable meanwhile: leave the screen and come back, and it picks
the running job up again. ``x`` cancels. The table lists every adapter;
``a`` activates the selected one (refused when its evaluation says it does
not help; ``A`` forces it) and ``r`` rolls the model back to its base.
"""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, ProgressBar

from backend import AssistantAPI, AssistantError
from backend.api import Adapter, TuneupBusyError, TuneupJobHandle, describe


def adapter_row(a: Adapter) -> tuple[str, ...]:
    helps = {True: "yes", False: "no", None: "—"}[a.helps]
    return ("●" if a.active else "", a.run_id, a.model, a.method, helps, a.summary)


class TuneupScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape,q", "app.pop_screen", "Back"),
        ("s", "start('sft')", "Tune (SFT)"),
        ("d", "start('dpo')", "Tune (DPO)"),
        ("p", "preview", "Preview data"),
        ("x", "cancel", "Cancel"),
        ("a", "activate(False)", "Use adapter"),
        ("A", "activate(True)", "Use anyway"),
        ("r", "rollback", "Roll back"),
    ]

    def __init__(self, backend: AssistantAPI) -> None:
        super().__init__()
        self.backend = backend
        self.adapters: list[Adapter] = []
        self.job: TuneupJobHandle | None = None
        """The running (or last) tune-up, as last heard of."""

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Vertical(id="tuneup"):
            yield Label("", id="tuneup-status")
            yield ProgressBar(id="tuneup-progress", show_eta=False)
            yield DataTable(id="adapters", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Tune-up"
        self.sub_title = "teach the model your style from your edits and thumbs"
        self.query_one("#tuneup-progress", ProgressBar).display = False
        self.query_one("#adapters", DataTable).add_columns(
            "Active", "Run", "Model", "Method", "Helps", "Before → after"
        )
        self.status(
            "s tunes the model on your edited and liked replies (d: on your preferences); "
            "p shows the data first."
        )
        self.adopt()
        self.load()

    @work(exclusive=True, group="tuneup-adopt", exit_on_error=False)
    async def adopt(self) -> None:
        """Follow the tune-up that is running (or unfinished) when the screen opens."""
        try:
            job = await self.backend.tuneups.current_tuneup()
        except AssistantError as err:
            self.notify(str(err), title=err.title, severity="error")
            return
        self.job = job
        if job is not None and (job.running or job.last is None or not job.last.final):
            self.follow(job)

    def status(self, text: str) -> None:
        self.query_one("#tuneup-status", Label).update(text)

    @work(exclusive=True, group="tuneup-list", exit_on_error=False)
    async def load(self) -> None:
        try:
            self.adapters = await self.backend.tuneups.list_adapters()
        except AssistantError as err:
            self.notify(str(err), title=err.title, severity="error")
            return
        table = self.query_one("#adapters", DataTable)
        table.clear()
        table.add_rows([adapter_row(a) for a in self.adapters])
        if not self.adapters:
            table.add_row("", "no adapters yet", "", "", "", "")

    # -- running -------------------------------------------------------------

    def _busy(self) -> bool:
        job = self.job
        if job is not None and job.running:
            self.notify("A tune-up is running; x cancels it", severity="warning")
            return True
        return False

    def action_start(self, method: str) -> None:
        if not self._busy():
            self.launch(method, False)

    def action_preview(self) -> None:
        if not self._busy():
            self.launch("sft", True)

    @work(exclusive=True, group="tuneup-start", exit_on_error=False)
    async def launch(self, method: str, dry_run: bool) -> None:
        self.status("Previewing the data…" if dry_run else f"Starting a {method} tune-up…")
        try:
            job = await self.backend.tuneups.start_tuneup(method, dry_run=dry_run)
        except TuneupBusyError as err:  # another front end started one: follow it
            self.notify(str(err), severity="warning")
            self.adopt()
            return
        except (AssistantError, ValueError) as err:
            self.status(str(err))
            self.notify(str(err), severity="warning")
            return
        self.job = job
        self.follow(job)

    @work(exclusive=True, group="tuneup-follow", exit_on_error=False)
    async def follow(self, job: TuneupJobHandle) -> None:
        bar = self.query_one("#tuneup-progress", ProgressBar)
        bar.update(total=None, progress=0)
        bar.display = True
        data = ""
        try:
            async for update in job.updates():
                if update.event == "progress":
                    bar.update(total=update.data.get("total"), progress=update.data.get("step", 0))
                if update.event == "dataset":
                    data = describe(update)
                if update.event == "done" and update.data.get("dry_run"):
                    self.status(f"{data}\n{describe(update)}")
                else:
                    self.status(describe(update))
                if update.event == "error":
                    self.notify(
                        str(update.data.get("message", "")),
                        title=str(update.data.get("title", "Tune-up failed")),
                        severity="error",
                    )
        finally:
            bar.display = False
        self.load()

    def action_cancel(self) -> None:
        job = self.job
        if job is None or not job.running:
            self.notify("No tune-up is running", severity="information", timeout=2)
            return
        self.backend.tuneups.cancel_tuneup()
        self.status("Cancelling…")

    # -- adapters ------------------------------------------------------------

    def _selected(self) -> Adapter | None:
        row = self.query_one("#adapters", DataTable).cursor_row
        return self.adapters[row] if 0 <= row < len(self.adapters) else None

    @work(exclusive=True, group="tuneup-activate", exit_on_error=False)
    async def action_activate(self, force: bool) -> None:
        adapter = self._selected()
        if adapter is None:
            self.notify("No adapter selected", severity="information", timeout=2)
            return
        try:
            await self.backend.tuneups.activate_adapter(adapter.run_id, force=force)
        except AssistantError as err:
            self.status(str(err))
            self.notify(str(err), title=err.title, severity="warning")
            return
        self.status(f"{adapter.model} now answers with {adapter.run_id}.")
        self.load()

    @work(exclusive=True, group="tuneup-activate", exit_on_error=False)
    async def action_rollback(self) -> None:
        adapter = self._selected()
        try:
            changed = await self.backend.tuneups.deactivate_adapter(
                adapter.model if adapter else None
            )
        except AssistantError as err:
            self.notify(str(err), title=err.title, severity="warning")
            return
        self.status("Rolled back to the base model." if changed else "No adapter was active.")
        self.load()
