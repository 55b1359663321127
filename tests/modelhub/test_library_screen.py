"""The Get models screen, driven with Pilot on a real backend against the
loopback Hub: reached from the model picker, the catalog is labelled for
this machine with the recommendation highlighted, a Hub search lists repos,
enter on one lists its quantizations, enter downloads with progress, and the
model is then in the picker. With only the bundled demo model, the app says
so once and ctrl+g starts the recommended download."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input
from tui.helpers import SIZE, notices, settle, wait_for

from assistant.app import AssistantApp
from assistant.screens.library import LibraryScreen
from assistant.screens.picker import PickerScreen
from backend.common.config import Settings
from backend.common.locations import Locations
from backend.local.backend import Backend

from .conftest import TINY_REPO
from .hub_server import HubServer


def table_rows(app: AssistantApp) -> list[tuple[str, ...]]:
    table = app.screen.query_one("#models", DataTable)
    return [tuple(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


async def test_get_models_from_the_picker_search_and_download(
    hub_env: HubServer, tmp_path: Path
) -> None:
    settings = Settings.model_validate({"ollama": {"enabled": False}})
    backend = Backend(locations=Locations(tmp_path / "home"), settings=settings)
    app = AssistantApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen))
        await pilot.press("end", "enter")  # the last line: Get models…
        await wait_for(pilot, lambda: isinstance(app.screen, LibraryScreen), timeout=10)
        await wait_for(pilot, lambda: len(table_rows(app)) > 10, timeout=20)
        rows = table_rows(app)
        assert {r[5] for r in rows} <= {"fits", "slow", "won't fit"}
        marked = [r for r in rows if r[0] == "→"]
        assert len(marked) <= 1
        table = app.screen.query_one("#models", DataTable)
        if marked:  # the recommendation is highlighted
            assert table_rows(app)[table.cursor_row][0] == "→"

        app.screen.query_one("#search", Input).value = "tiny"
        app.screen.query_one("#search", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(r[1] == TINY_REPO for r in table_rows(app)), timeout=30)
        table.move_cursor(row=[r[1] for r in table_rows(app)].index(TINY_REPO))
        table.focus()
        await pilot.press("enter")  # its quantizations
        await wait_for(pilot, lambda: any(r[3] == "Q8_0" for r in table_rows(app)), timeout=30)
        table.move_cursor(row=[r[3] for r in table_rows(app)].index("Q8_0"))
        await pilot.press("enter")  # download it
        key = f"{TINY_REPO}:Q8_0"
        await wait_for(pilot, lambda: key in app.downloads.items, timeout=5)
        await wait_for(pilot, lambda: not app.downloads.items[key].active, timeout=60)
        assert app.downloads.items[key].state == "done", app.downloads.items[key]
        assert (backend.locations.models / "tiny-q8_0.gguf").is_file()
        assert any("ready" in n for n in notices(app))

        await pilot.press("escape", "escape", "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, LibraryScreen))
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen))
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        assert "tiny-q8_0" in [cid for cid, _ in picker.choices]


async def test_the_demo_model_hint_is_said_once_and_ctrl_g_fetches_the_pick(
    hub_env: HubServer, tmp_path: Path
) -> None:
    home = Locations(tmp_path / "home")
    settings = Settings.model_validate({"ollama": {"enabled": False}})
    app = AssistantApp(Backend(locations=home, settings=settings))  # the real bundled model
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: any("tiny demo model" in n for n in notices(app)), 20)
        assert app.recommended is not None
        name, quant = app.recommended
        await pilot.press("ctrl+g")
        key = f"{name}:{quant}"
        await wait_for(pilot, lambda: key in app.downloads.items, timeout=5)
        assert isinstance(app.screen, LibraryScreen)
        # the loopback Hub has no such repo: the download fails, and says so
        await wait_for(pilot, lambda: app.downloads.items[key].state == "failed", timeout=60)
    again = AssistantApp(Backend(locations=home, settings=settings))
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause(1.0)
        assert not any("tiny demo model" in n for n in notices(again))  # said once
