"""The knowledge base in the UI: watched folders, their documents, indexing
progress and a quick document search.

Indexing belongs to the app, not to this screen: ``AssistantApp.start_indexing``
runs ``run_indexing`` in an app worker and keeps an ``IndexingState`` that this
screen reads when it opens, so closing the screen never stops a sweep. The
backend calls ``IndexingState.report`` from the indexing thread; it only
stores the progress and posts a message to the open screen (``post_message``
is thread-safe), and the screen redraws from the state in its own thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, ProgressBar

from assistant.indexing import IndexingChanged, IndexingState, progress_text
from assistant.screens.confirm import ConfirmScreen
from assistant.screens.text_input import TextInputScreen
from backend import AssistantError
from backend.api import Document, FolderStatus

if TYPE_CHECKING:
    from assistant.app import AssistantApp


def relative(path: str, folder: str | None) -> str:
    if folder:
        try:
            return str(Path(path).relative_to(folder))
        except ValueError:
            pass
    return path


def folder_row(s: FolderStatus) -> tuple[str, ...]:
    return (
        s.folder.path,
        str(s.indexed),
        str(s.pending),
        str(s.failed),
        str(s.skipped),
        str(s.duplicates),
        str(s.chunks),
    )


def document_row(d: Document, folder: str | None) -> tuple[str, ...]:
    """Path, status ("duplicate" for a copy of an indexed document), chunks,
    and the reason: why it failed or was skipped, or which copy is searched."""
    if d.duplicate_of is not None:
        reason = f"duplicate of {relative(d.duplicate_of, folder)}"
        return (relative(d.path, folder), "duplicate", str(d.chunk_count), reason)
    return (relative(d.path, folder), d.status, str(d.chunk_count), d.error or "")


def snippet(text: str, width: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


# app-level work (run in the app's workers, see AssistantApp) -----------------
class DocumentsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape", "app.pop_screen", "Back"),
        ("a", "add_folder", "Add folder"),
        ("delete", "remove_folder", "Remove folder"),
        ("i", "index", "Index now"),
        ("p", "pause", "Pause/Resume"),
        ("x", "cancel", "Cancel indexing"),
        ("slash", "focus_search", "Search"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[FolderStatus] = []
        self.folder_id: int | None = None

    @property
    def assistant(self) -> AssistantApp:
        return cast("AssistantApp", self.app)

    @property
    def state(self) -> IndexingState:
        return self.assistant.indexing

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Vertical(id="documents"):
            with Horizontal(id="doc-buttons"):
                yield Button("Add folder", id="add-folder", variant="primary")
                yield Button("Remove folder", id="remove-folder", variant="error")
                yield Button("Index now", id="index")
                yield Button("Pause", id="pause")
                yield Button("Cancel", id="cancel")
            yield Label("Watched folders", classes="section-title")
            yield DataTable(id="folders", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="index-progress"):
                yield ProgressBar(id="progress", show_eta=False)
                yield Label("", id="progress-text")
            yield Label("Documents", classes="section-title", id="docs-title")
            yield DataTable(id="docs", cursor_type="row", zebra_stripes=True)
            yield Input(placeholder="Search documents (Enter)", id="doc-search")
            yield DataTable(id="hits", cursor_type="row", zebra_stripes=True)
            yield Label("", id="reranker-line")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Documents"
        self.sub_title = "folders the assistant can search"
        self.query_one("#folders", DataTable).add_columns(
            "Folder", "Indexed", "Pending", "Failed", "Skipped", "Duplicates", "Chunks"
        )
        self.query_one("#docs", DataTable).add_columns("Path", "Status", "Chunks", "Reason")
        self.query_one("#hits", DataTable).add_columns("Path", "Heading", "Score", "Snippet")
        self.state.screen = self
        self.show_progress()
        self.reload()

    def on_unmount(self) -> None:
        if self.state.screen is self:
            self.state.screen = None

    # progress ------------------------------------------------------------
    def on_indexing_changed(self, event: IndexingChanged) -> None:
        was_running = self.query_one("#progress", ProgressBar).has_class("-running")
        self.show_progress()
        if event.swept or (was_running and not self.state.running):
            self.reload()  # a sweep ended

    def show_progress(self) -> None:
        state = self.state
        bar = self.query_one("#progress", ProgressBar)
        bar.set_class(state.running, "-running")
        p = state.progress
        if state.running and p is not None:
            bar.update(total=max(p.total, 1), progress=p.done)
        elif state.running:
            bar.update(total=None)
        else:
            bar.update(total=1, progress=1 if state.last else 0)
        self.query_one("#progress-text", Label).update(progress_text(state))
        self.query_one("#pause", Button).label = "Resume" if state.paused.is_set() else "Pause"
        self.query_one("#pause", Button).disabled = not state.running
        self.query_one("#cancel", Button).disabled = not state.running

    # tables --------------------------------------------------------------
    @work(exclusive=True, group="documents-load", exit_on_error=False)
    async def reload(self) -> None:
        try:
            self.statuses = await self.assistant.backend.documents.folders()
        except AssistantError as err:
            self.notify(str(err), title=err.title, severity="error")
            return
        try:  # which second stage answers use ([rag] reranker; auto may pick a pulled one)
            in_use = await self.assistant.backend.documents.reranker_in_use()
            line = f"Answers rerank with: {in_use.summary()}"
        except AssistantError as err:
            line = f"Reranker: {err}"
        self.query_one("#reranker-line", Label).update(line)
        table = self.query_one("#folders", DataTable)
        table.clear()
        for s in self.statuses:
            table.add_row(*folder_row(s), key=str(s.folder.id))
        ids = [s.folder.id for s in self.statuses]
        if self.folder_id not in ids:
            self.folder_id = ids[0] if ids else None
        if self.folder_id is not None:
            table.move_cursor(row=ids.index(self.folder_id))
        await self.load_documents()

    async def load_documents(self) -> None:
        docs_table = self.query_one("#docs", DataTable)
        title = self.query_one("#docs-title", Label)
        folder = self.selected_folder()
        if folder is None:
            docs_table.clear()
            title.update("Documents")
            return
        try:
            docs = await self.assistant.backend.documents.list_documents(folder.folder.id)
        except AssistantError as err:
            self.notify(str(err), title=err.title, severity="error")
            return
        if self.selected_folder() is not folder:
            return  # the selection moved on meanwhile
        docs_table.clear()
        docs_table.add_rows(document_row(d, folder.folder.path) for d in docs)
        title.update(f"Documents in {folder.folder.path} ({len(docs)})")

    def selected_folder(self) -> FolderStatus | None:
        return next((s for s in self.statuses if s.folder.id == self.folder_id), None)

    @on(DataTable.RowHighlighted, "#folders")
    def _folder_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key is not None and int(key) != self.folder_id:
            self.folder_id = int(key)
            self._load_documents()

    @work(exclusive=True, group="documents-docs", exit_on_error=False)
    async def _load_documents(self) -> None:
        await self.load_documents()

    # actions --------------------------------------------------------------
    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        actions: dict[str, Callable[[], object]] = {
            "add-folder": self.action_add_folder,
            "remove-folder": self.action_remove_folder,
            "index": self.action_index,
            "pause": self.action_pause,
            "cancel": self.action_cancel,
        }
        if event.button.id in actions:
            actions[event.button.id]()

    @work(group="documents-folders", exit_on_error=False)
    async def action_add_folder(self) -> None:
        path = await self.app.push_screen_wait(
            TextInputScreen("Add a folder to index", placeholder="/path/to/folder")
        )
        if not path or not path.strip():
            return
        try:
            folder = await self.assistant.backend.documents.add_folder(path.strip())
        except AssistantError as err:
            self.notify(str(err), title=err.title, severity="error", timeout=8)
            return
        self.notify(f"Watching {folder.path}; press Index now to index it", timeout=4)
        self.folder_id = folder.id
        self.assistant.watch_knowledge()
        self.reload()

    @work(group="documents-folders", exit_on_error=False)
    async def action_remove_folder(self) -> None:
        folder = self.selected_folder()
        if folder is None:
            self.notify("No folder selected", severity="warning")
            return
        path = folder.folder.path
        question = (
            f"Stop watching {path} and drop everything indexed from it?\n"
            "(The files themselves are not touched.)"
        )
        if not await self.app.push_screen_wait(ConfirmScreen("Remove folder", question, "Remove")):
            return
        try:
            await self.assistant.backend.documents.remove_folder(folder.folder.id)
        except AssistantError as err:
            self.notify(str(err), title=err.title, severity="error", timeout=8)
            return
        self.notify(f"Removed {path}", timeout=3)
        self.folder_id = None
        self.reload()

    def action_index(self) -> None:
        if not self.assistant.start_indexing():
            self.notify("Already indexing", severity="warning", timeout=3)

    def action_pause(self) -> None:
        paused = self.state.paused
        if not self.state.running:
            return
        if paused.is_set():
            paused.clear()
        else:
            paused.set()
        self.show_progress()

    def action_cancel(self) -> None:
        if self.state.running:
            self.state.stop()
            self.show_progress()

    def action_focus_search(self) -> None:
        self.query_one("#doc-search", Input).focus()

    # search -----------------------------------------------------------------
    @on(Input.Submitted, "#doc-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.search(event.value.strip())

    @work(exclusive=True, group="documents-search", exit_on_error=False)
    async def search(self, query: str) -> None:
        try:
            hits = await self.assistant.backend.documents.search_documents(
                query, k=10, mode="hybrid"
            )
        except AssistantError as err:
            self.notify(str(err), title=err.title, severity="error")
            return
        except ValueError as err:
            self.notify(str(err), severity="warning")
            return
        folders = [s.folder.path for s in self.statuses]
        table = self.query_one("#hits", DataTable)
        table.clear()
        for hit in hits:
            base = next((f for f in folders if hit.path.startswith(f.rstrip("/") + "/")), None)
            table.add_row(
                relative(hit.path, base), hit.heading, f"{hit.score:.3f}", snippet(hit.text)
            )
        if not hits:
            self.notify(f"No documents match {query!r}", timeout=3)
