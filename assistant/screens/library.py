"""Get models: the curated catalog labelled for this machine, Hugging Face
search, and the downloads (reached from the model picker, or ``ctrl+g``).

The table shows one of three lists: the catalog (each model and
quantization with its fit label, the recommendation marked and
highlighted), search results (repos), or one repo's quantizations. Enter
pulls the highlighted model (or lists a repo's quantizations); ``p`` pauses
or resumes a download, ``x`` cancels it; escape goes back. Downloads run in
the app (``AssistantApp.start_download``) and go on when the screen closes.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, ProgressBar, Static

from assistant.downloads import Download
from backend import AssistantAPI, AssistantError
from backend.api import Machine, Offer, QuantFit

Mode = Literal["catalog", "search", "quants"]
COLUMNS = ("", "Model", "Kind", "Quant", "Download", "Fit", "Licence")


def size(n: int | None) -> str:
    if not n:
        return "—"
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def machine_line(m: Machine) -> str:
    gpu = f" · {m.gpu_name or m.gpu} {size(m.vram_bytes)}" if m.gpu != "none" else " · no GPU"
    cores = f" · {m.cpu_cores} cores" if m.cpu_cores else ""
    return f"This machine: {size(m.ram_bytes)} RAM{cores}{gpu} · {size(m.disk_free_bytes)} free"


class LibraryScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape", "back", "Back"),
        ("enter", "choose", "Get / open"),
        ("p", "pause", "Pause/resume"),
        ("x", "cancel", "Cancel"),
        ("slash", "focus_search", "Search"),
    ]

    def __init__(self, backend: AssistantAPI) -> None:
        super().__init__()
        self.backend = backend
        self.mode: Mode = "catalog"
        self.rows: list[tuple[str, str | None]] = []
        """Per table row: (spec to pull or repo to open, quantization)."""
        self.repo = ""

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Vertical(id="library"):
            yield Static("", id="machine", markup=False)
            yield Input(placeholder="Search the Hugging Face Hub for GGUF models…", id="search")
            yield DataTable(id="models", cursor_type="row", zebra_stripes=True)
            yield Label("Downloads", id="downloads-title")
            yield Vertical(id="downloads")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Get models"
        self.sub_title = "what fits this machine; nothing downloads unless you ask"
        self.query_one("#models", DataTable).add_columns(*COLUMNS)
        self.load_catalog()
        self.show_downloads()

    # the lists -----------------------------------------------------------
    @work(exclusive=True, group="library-list", exit_on_error=False)
    async def load_catalog(self) -> None:
        try:
            machine = await self.backend.library.machine()
            offers = await self.backend.library.offers()
        except AssistantError as err:
            self.notify(str(err), title=err.title, severity="error")
            return
        self.query_one("#machine", Static).update(machine_line(machine))
        self.show_catalog(offers)

    def show_catalog(self, offers: list[Offer]) -> None:
        self.mode, self.rows = "catalog", []
        table = self.query_one("#models", DataTable)
        table.clear()
        pick = 0
        for offer in offers:
            for fit in offer.fits:
                mark = "→" if offer.recommended == fit.quant else ""
                if mark:
                    pick = len(self.rows)
                self.rows.append((offer.entry.name, fit.quant))
                table.add_row(mark, offer.entry.title, offer.entry.kind, fit.quant,
                              size(fit.weights_bytes), fit.label, offer.entry.license)  # fmt: skip
        if self.rows:
            table.move_cursor(row=pick)
            table.focus()

    @on(Input.Submitted, "#search")
    def _search(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.search(event.value.strip())
        else:
            self.load_catalog()

    @work(exclusive=True, group="library-list", exit_on_error=False)
    async def search(self, query: str) -> None:
        self.notify(f"Searching the Hub for {query!r}…", timeout=2)
        try:
            hits = await self.backend.library.search(query)
        except (AssistantError, ValueError) as err:
            self.notify(str(err), title=getattr(err, "title", "Search"), severity="error")
            return
        self.mode, self.rows = "search", [(h.repo, None) for h in hits]
        table = self.query_one("#models", DataTable)
        table.clear()
        for h in hits:
            table.add_row("", h.repo, "gguf", "", "", "gated" if h.gated else "",
                          f"{h.downloads or 0} downloads")  # fmt: skip
        if not hits:
            self.notify(f"No GGUF models match {query!r}", severity="warning")
        table.focus()

    @work(exclusive=True, group="library-list", exit_on_error=False)
    async def open_repo(self, repo: str) -> None:
        try:
            found = await self.backend.library.quants(repo)
        except AssistantError as err:
            self.notify(str(err), title=err.title, severity="error")
            return
        self.show_quants(repo, found)

    def show_quants(self, repo: str, found: list[QuantFit]) -> None:
        self.mode, self.repo = "quants", repo
        self.rows = [(repo, q.option.quant) for q in found]
        table = self.query_one("#models", DataTable)
        table.clear()
        for q in found:
            table.add_row("", repo, "chat", q.option.quant or "?",
                          size(q.option.total_bytes), q.fit.label, "")  # fmt: skip
        table.focus()

    # actions ---------------------------------------------------------------
    def _highlighted(self) -> tuple[str, str | None] | None:
        row = self.query_one("#models", DataTable).cursor_row
        return self.rows[row] if 0 <= row < len(self.rows) else None

    @on(DataTable.RowSelected, "#models")
    def _row_selected(self) -> None:  # enter on the table (the table's own binding)
        self.action_choose()

    def action_choose(self) -> None:
        chosen = self._highlighted()
        if chosen is None:
            return
        target, quant = chosen
        if self.mode == "search":
            self.open_repo(target)
            return
        self.pull(target, quant)

    def pull(self, spec: str, quant: str | None) -> None:
        from assistant.app import AssistantApp

        assert isinstance(self.app, AssistantApp)
        if self.app.start_download(spec, quant):
            self.notify(f"Downloading {spec}{':' + quant if quant else ''}…", timeout=3)
        else:
            self.notify("That one is already downloading", severity="warning")

    def _latest(self) -> Download | None:
        from assistant.app import AssistantApp

        assert isinstance(self.app, AssistantApp)
        items = list(self.app.downloads.items.values())
        return items[-1] if items else None

    def action_pause(self) -> None:
        from assistant.app import AssistantApp

        assert isinstance(self.app, AssistantApp)
        item = self._latest()
        if item is None:
            self.notify("No download to pause", timeout=2)
        elif item.active:
            self.app.downloads.pause(item.key)
        elif item.state in ("paused", "cancelled", "failed"):
            self.pull(item.spec, item.quant)  # resumes from the partial file

    def action_cancel(self) -> None:
        from assistant.app import AssistantApp

        assert isinstance(self.app, AssistantApp)
        item = self._latest()
        if item is None or not self.app.downloads.cancel(item.key):
            self.notify("No download is running", timeout=2)

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_back(self) -> None:
        """One list back (quantizations -> search results -> catalog), then close.
        The mode changes at once, so repeated escapes never wait on the Hub."""
        if self.mode == "quants":
            self.mode = "search"
            self.search(self.query_one("#search", Input).value.strip() or self.repo)
        elif self.mode == "search":
            self.mode = "catalog"
            self.query_one("#search", Input).value = ""
            self.load_catalog()
        else:
            self.app.pop_screen()

    # downloads -------------------------------------------------------------
    def show_downloads(self) -> None:
        from assistant.app import AssistantApp

        if not isinstance(self.app, AssistantApp):
            return
        box = self.query_one("#downloads", Vertical)
        box.remove_children()
        items = list(self.app.downloads.items.values())
        if not items:
            box.mount(Label("none yet: enter on a model downloads it", classes="dim"))
        for item in items:
            box.mount(Label(item.describe(), markup=False))
            if item.active and item.progress is not None:
                bar = ProgressBar(total=item.progress.total_bytes or None, show_eta=False)
                box.mount(bar)
                bar.update(progress=item.progress.done_bytes)
