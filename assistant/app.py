"""The Textual app: starts the backend, applies theme and keymap, and owns the
app-wide actions (help, request log, themes, errors, quit).

``AssistantApp`` takes an ``AssistantAPI`` that has *not* been started: the app
starts it in a worker after the first frame, so the UI is interactive at once
(models load lazily on the first message, in the backend's own thread), and
closes it when the app exits. ``run_tui`` is the CLI's entry point.
"""

from __future__ import annotations

import contextlib

from textual import work
from textual.app import App
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from assistant import downloads, keys
from assistant import indexing as sweeps
from assistant.downloads import Download, DownloadChanged, Downloads
from assistant.indexing import IndexingState
from assistant.palette import AssistantCommands
from assistant.screens.documents import DocumentsScreen
from assistant.screens.error import ErrorScreen
from assistant.screens.help import HelpScreen
from assistant.screens.main import MainScreen
from assistant.screens.picker import PickerScreen
from assistant.screens.request_log import RequestLogScreen
from assistant.theming import DEFAULT_THEME, choose_theme, load_themes
from backend import AssistantAPI, AssistantError
from backend.common.errors import StoreError

THEME_STATE = "theme"


class AssistantApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "Assistant"
    BINDINGS = keys.bindings("app")
    COMMANDS = App.COMMANDS | {AssistantCommands}
    COMMAND_PALETTE_DISPLAY = "Commands"

    def __init__(self, backend: AssistantAPI, *, close_backend: bool = True) -> None:
        """``close_backend``: close the backend when the app exits (tests that
        inspect the store afterwards pass False and close it themselves)."""
        super().__init__()
        self.backend = backend
        self.close_backend = close_backend
        self.ready = False
        self.start_error: str | None = None
        self.keymap_overrides: dict[str, str] = {}
        themes, self.theme_errors = load_themes()
        for theme in themes:
            self.register_theme(theme)
        self.theme_names = [t.name for t in themes]
        if DEFAULT_THEME in self.theme_names:
            self.theme = DEFAULT_THEME
        self.main = MainScreen(backend)
        self.indexing = IndexingState()
        self.downloads = Downloads()
        self.recommended: tuple[str, str | None] | None = None
        """The model the first-run hint offers (name, quantization)."""

    def get_default_screen(self) -> Screen[None]:
        return self.main

    def on_mount(self) -> None:
        for error in self.theme_errors:
            self.notify(error, title="Theme file ignored", severity="warning")
        self.start_backend()

    @work(exclusive=True, group="startup", exit_on_error=False)
    async def start_backend(self) -> None:
        try:
            await self.backend.start()
            remembered = await self.backend.conversations.get_state(THEME_STATE)
        except AssistantError as err:
            self.start_error = f"{err.title}: {err}"
            quit_ = await self.push_screen_wait(
                ErrorScreen(err.title, f"{err}\n\nThe assistant cannot start.", fatal=True)
            )
            if quit_:
                self.exit(return_code=1)
            return
        ui = self.backend.settings.ui
        self.apply_keymap(ui.keybindings)
        if ui.theme and ui.theme not in self.theme_names and ui.theme not in self.available_themes:
            self.notify(f"Unknown theme {ui.theme!r} in config", severity="warning")
        self.theme = choose_theme(ui.theme, remembered, set(self.available_themes))
        self.theme_changed_signal.subscribe(self, lambda theme: self.remember_theme(theme.name))
        self.ready = True
        for missing in self.backend.unavailable:
            self.notify(
                f"{missing.name}: {missing.reason}",
                title="Runtime unavailable",
                severity="warning",
                timeout=8,
            )
        self.main.load(reopen=True)
        self.watch_knowledge(initial_sweep=True)
        self.show_demo_hint()

    # models: getting more, and the first-run hint ----------------------------
    @work(group="demo-hint", exit_on_error=False)
    async def show_demo_hint(self) -> None:
        await downloads.demo_hint(self)

    def start_download(self, spec: str, quant: str | None) -> bool:
        """Pull a model in the background; False when it is already downloading."""
        item = self.downloads.begin(spec, quant)
        if item is None:
            return False
        self._download(item)
        self.post_message(DownloadChanged(item.key))
        return True

    @work(group="downloads", exit_on_error=False)
    async def _download(self, item: Download) -> None:
        await downloads.run_download(self, item)

    def on_download_changed(self, event: DownloadChanged) -> None:
        from assistant.screens.library import LibraryScreen

        if isinstance(self.screen, LibraryScreen):
            self.screen.show_downloads()

    def action_library(self) -> None:
        from assistant.screens.library import LibraryScreen

        if not self.ready:
            self.notify("Still starting up", severity="warning")
        elif not isinstance(self.screen, LibraryScreen):
            self.push_screen(LibraryScreen(self.backend))

    def action_get_recommended(self) -> None:
        """Download the model the first-run hint offered, and show it coming."""
        if self.recommended is None:
            self.action_library()
            return
        self.start_download(*self.recommended)
        self.action_library()

    # knowledge base: watching and indexing outlive the documents screen ----
    @work(group="knowledge-watch", exit_on_error=False)
    async def watch_knowledge(self, initial_sweep: bool = False) -> None:
        await sweeps.watch_folders(self, initial_sweep=initial_sweep)

    def start_indexing(self, folder_ids: list[int] | None = None, *, quiet: bool = False) -> bool:
        """Start a sweep in the background; False if one is already running."""
        if self.indexing.running:
            return False
        self.indexing.begin()
        self._index(folder_ids, quiet)
        return True

    @work(exclusive=True, group="index", exit_on_error=False)
    async def _index(self, folder_ids: list[int] | None, quiet: bool) -> None:
        await sweeps.run_indexing(self, folder_ids, quiet)

    def apply_keymap(self, remap: dict[str, str]) -> None:
        keymap, unknown = keys.split_keymap(remap)
        self.keymap_overrides = keymap
        self.set_keymap(keymap)
        if unknown:
            self.notify(
                "Unknown action ids in [ui.keybindings]: "
                + ", ".join(unknown)
                + " (F1 lists the valid ids)",
                title="Key bindings",
                severity="warning",
                timeout=10,
            )

    @work(group="state", exit_on_error=False)
    async def remember_theme(self, name: str) -> None:
        with contextlib.suppress(AssistantError, RuntimeError):  # best-effort
            await self.backend.conversations.set_state(THEME_STATE, name)

    async def on_unmount(self) -> None:
        self.indexing.stop()
        if self.close_backend and self.ready:
            await self.backend.close()

    # errors ------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Workers run with exit_on_error=False so a bug in one action does not
        end the app; this makes such a failure visible instead of silent."""
        error = event.worker.error
        if event.state == WorkerState.ERROR and error is not None:
            self.log.error(event.worker, error)
            self.report(
                error
                if isinstance(error, AssistantError)
                else RuntimeError(f"{event.worker.name} failed: {type(error).__name__}: {error}")
            )

    def report(self, err: Exception) -> None:
        """Show an error without stopping: a modal for database problems, a
        notice for everything else."""
        if isinstance(err, StoreError):
            self.push_screen(ErrorScreen(err.title, str(err)))
        elif isinstance(err, AssistantError):
            self.notify(str(err), title=err.title, severity="error", timeout=8)
        elif isinstance(err, ValueError):  # the backend's "cannot do that" answers
            self.notify(str(err), severity="warning")
        else:
            self.notify(str(err), title="Unexpected error", severity="error", timeout=10)

    # app-wide actions ----------------------------------------------------
    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.keymap_overrides))

    def action_request_log(self) -> None:
        if not self.ready:
            self.notify("Still starting up", severity="warning")
        elif not isinstance(self.screen, RequestLogScreen):
            self.push_screen(RequestLogScreen(self.backend))

    def action_evaluation(self) -> None:
        from assistant.screens.evaluation import EvaluationScreen

        if not self.ready:
            self.notify("Still starting up", severity="warning")
        elif not isinstance(self.screen, EvaluationScreen):
            self.push_screen(EvaluationScreen(self.backend))

    def action_tuneup(self) -> None:
        from assistant.screens.tuneup import TuneupScreen

        if not self.ready:
            self.notify("Still starting up", severity="warning")
        elif not isinstance(self.screen, TuneupScreen):
            self.push_screen(TuneupScreen(self.backend))

    def action_memory(self) -> None:
        from assistant.screens.memory import MemoryScreen

        if not self.ready:
            self.notify("Still starting up", severity="warning")
        elif not isinstance(self.screen, MemoryScreen):
            self.push_screen(MemoryScreen(self.backend))

    def action_documents(self) -> None:
        if not self.ready:
            self.notify("Still starting up", severity="warning")
        elif not isinstance(self.screen, DocumentsScreen):
            self.push_screen(DocumentsScreen())

    def action_cycle_theme(self) -> None:
        names = self.theme_names or ["textual-dark"]
        index = names.index(self.theme) + 1 if self.theme in names else 0
        self.use_theme(names[index % len(names)])

    def use_theme(self, name: str) -> None:
        self.theme = name
        self.notify(f"Theme: {name}", timeout=2)

    @work(group="theme", exit_on_error=False)
    async def action_pick_theme(self) -> None:
        choices = [(n, n) for n in self.theme_names]
        name = await self.push_screen_wait(PickerScreen("Theme", choices, self.theme))
        if name:
            self.use_theme(name)


def run_tui(backend: AssistantAPI) -> None:
    """Run the terminal UI on ``backend`` (not started yet) until the user quits."""
    AssistantApp(backend).run()
