"""The documents screen on a real knowledge base (the bundled MiniLM embedder)
with a FakeRuntime for chat: folders, indexing, failures, search, removal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input

from assistant.app import AssistantApp
from assistant.screens.confirm import ConfirmScreen
from assistant.screens.documents import DocumentsScreen
from assistant.screens.text_input import TextInputScreen
from backend.knowledge.records import IndexProgress

from .helpers import SIZE, MakeBackend, make_app, messages, notices, settle, wait_for, wait_screen

INDEX_TIMEOUT = 90.0


def make_folder(root: Path) -> Path:
    folder = root / "docs"
    (folder / "notes").mkdir(parents=True)
    (folder / "garden.md").write_text(
        "# Garden\n\nTomatoes need plenty of sunlight and regular watering in summer.\n"
    )
    (folder / "recipes.txt").write_text(
        "Pancakes: mix flour, eggs and milk, then fry them in a hot pan with butter.\n"
    )
    (folder / "notes" / "travel.md").write_text(
        "# Travel\n\n## Norway\n\nThe fjords near Bergen are best visited by ferry in June.\n"
    )
    (folder / "bad.pdf").write_bytes(b"%PDF-1.4\n not really a pdf")  # fails
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))  # skipped
    return folder


def table(app: AssistantApp, selector: str) -> DataTable[Any]:
    return app.screen.query_one(selector, DataTable)


def rows(app: AssistantApp, selector: str) -> list[tuple[str, ...]]:
    t = table(app, selector)
    return [tuple(str(c) for c in t.get_row_at(i)) for i in range(t.row_count)]


async def open_documents(pilot: Pilot[Any]) -> None:
    await pilot.press("f3")
    await settle(pilot)
    assert isinstance(pilot.app.screen, DocumentsScreen)


async def add_folder(pilot: Pilot[Any], path: str) -> None:
    await pilot.press("a")
    await wait_screen(pilot, TextInputScreen)
    pilot.app.screen.query_one(Input).value = path
    await pilot.press("enter")
    await settle(pilot)


async def wait_indexed(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, AssistantApp)
    await wait_for(pilot, lambda: not app.indexing.running, timeout=INDEX_TIMEOUT)
    await settle(pilot)


async def test_add_index_search_and_remove_a_folder(backends: MakeBackend, tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    app = make_app(backends())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_documents(pilot)
        await add_folder(pilot, str(folder))
        assert rows(app, "#folders") == [(str(folder), "0", "0", "0", "0", "0", "0")]
        reranker = str(app.screen.query_one("#reranker-line").render())
        assert reranker.startswith("Answers rerank with: none (no reranker downloaded")

        await pilot.press("i")
        await pilot.pause()
        # started (a warm embedder may already have finished 4 small files)
        assert app.indexing.running or app.indexing.last is not None
        # the chat stays usable while indexing: close the screen and send a message
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main
        composer = app.main.query_one("#composer")
        composer.focus()
        composer.text = "hello while indexing"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(messages(app)) == 2, timeout=INDEX_TIMEOUT)

        await wait_indexed(pilot)  # the worker outlived the closed screen
        assert app.indexing.last is not None
        assert (app.indexing.last.indexed, len(app.indexing.last.failed)) == (3, 1)
        assert any(n.startswith("indexed 3, failed 1,") for n in notices(app))

        await open_documents(pilot)
        (folder_row,) = rows(app, "#folders")
        assert folder_row[:6] == (str(folder), "3", "0", "1", "1", "0")
        assert int(folder_row[6]) >= 3
        docs = {r[0]: r for r in rows(app, "#docs")}
        assert set(docs) == {"bad.pdf", "photo.png", "garden.md", "recipes.txt", "notes/travel.md"}
        assert docs["bad.pdf"][1:3] == ("failed", "0") and "PDF" in docs["bad.pdf"][3]
        assert docs["photo.png"][1:] == ("skipped", "0", "image")  # not a document: no failure
        assert docs["garden.md"][1] == "indexed"
        assert docs["garden.md"][3] == ""
        assert "Last sweep: indexed 3, failed 1" in str(
            app.screen.query_one("#progress-text").render()
        )

        search = app.screen.query_one("#doc-search", Input)
        search.focus()
        search.value = "fjords near Bergen by ferry"
        await pilot.press("enter")
        await settle(pilot)
        hits = rows(app, "#hits")
        assert hits, "no search hits"
        assert hits[0][0] == "notes/travel.md"
        assert "fjords" in hits[0][3]

        table(app, "#folders").focus()
        await pilot.press("delete")
        await wait_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, DocumentsScreen)
        assert rows(app, "#folders") == []
        assert rows(app, "#docs") == []
        assert await app.backend.documents.folders() == []
        assert await app.backend.documents.list_documents() == []


async def test_add_folder_error_is_a_notice(backends: MakeBackend, tmp_path: Path) -> None:
    app = make_app(backends())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_documents(pilot)
        await add_folder(pilot, str(tmp_path / "missing"))
        assert any("does not exist" in n for n in notices(app))
        assert rows(app, "#folders") == []


def pause_at_start(app: AssistantApp) -> None:
    """Press pause at the instant the next sweep reports its start (before its
    first document), so the test does not race a fast sweep."""
    state = app.indexing
    report = state.report

    def hooked(progress: IndexProgress) -> None:
        if progress.done == 0 and progress.current is None:
            state.paused.set()
        report(progress)

    state.report = hooked  # type: ignore[method-assign]


async def test_pause_resume_and_cancel(backends: MakeBackend, tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    app = make_app(backends())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_documents(pilot)
        await add_folder(pilot, str(folder))
        state = app.indexing
        pause = app.screen.query_one("#pause", Button)
        assert pause.disabled and app.screen.query_one("#cancel", Button).disabled

        # paused: the sweep holds before its first document; cancel ends it
        pause_at_start(app)
        await pilot.press("i")
        await wait_for(pilot, lambda: state.progress is not None, timeout=INDEX_TIMEOUT)
        await pilot.pause(0.3)
        assert state.running and state.paused.is_set()
        assert state.progress is not None and state.progress.done == 0
        assert str(pause.label) == "Resume" and not pause.disabled
        assert "PAUSED" in str(app.screen.query_one("#progress-text").render())
        await pilot.press("x")
        await wait_indexed(pilot)
        assert state.last is not None and state.last.cancelled and state.last.indexed == 0
        assert any(n.title == "Indexing cancelled" for n in app._notifications)
        assert pause.disabled

        # paused again, then resumed with p: the sweep finishes
        await pilot.press("i")
        await wait_for(pilot, lambda: state.paused.is_set(), timeout=INDEX_TIMEOUT)
        await pilot.press("p")
        await pilot.pause()
        assert not state.paused.is_set()
        await wait_indexed(pilot)
        assert state.last is not None and not state.last.cancelled
        assert (state.last.indexed, len(state.last.failed)) == (3, 1)
        assert rows(app, "#folders")[0][1:4] == ("3", "0", "1")


async def test_start_reconciles_existing_folders(backends: MakeBackend, tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    backend = backends()
    await backend.start()
    await backend.documents.add_folder(str(folder))
    await backend.close()

    app = make_app(backends())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, timeout=INDEX_TIMEOUT)  # the start-up sweep runs in a worker
        await wait_for(pilot, lambda: app.indexing.last is not None, timeout=INDEX_TIMEOUT)
        await wait_indexed(pilot)
        assert app.indexing.last is not None and app.indexing.last.indexed == 3
        statuses = await app.backend.documents.folders()
        assert [(s.indexed, s.failed) for s in statuses] == [(3, 1)]
