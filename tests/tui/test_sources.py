"""Answers grounded in the user's documents, in the TUI: the sources under a
reply, the source viewer and its editor key, the per-chat documents switch
and ``@folder`` scoping.

The chat model is a FakeRuntime scripted to cite ``[S1]``, ``[S3]`` and a
source it was never given (``[S9]``) whenever its prompt carries sources; the
knowledge base is real (small files indexed with the bundled MiniLM
embedder). The panel on its own is tested in ``test_sources_panel``; the
real bundled model runs end to end in ``test_sources_real_model``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from textual.widgets import Collapsible, OptionList, TextArea

from assistant.screens.picker import PickerScreen
from assistant.screens.source_viewer import SourceViewerScreen
from assistant.widgets.composer import Composer
from assistant.widgets.sources import SourceLine
from backend import Backend
from backend.common.config import GenerationSettings, RagSettings, Settings
from backend.common.locations import Locations
from backend.runtimes.base import ChatMessage
from backend.runtimes.fake import FakeRuntime

from .helpers import SIZE, make_app, messages, notices, settle, wait_for, wait_screen
from .sources_helpers import INDEX_TIMEOUT, add_and_index, ask, line_text, make_library, reply

CITING_REPLY = "Water them deeply [S1] and give them sun [S3], as [S9] says."


class CitingRuntime(FakeRuntime):
    """Cites S1, S3 and an unknown S9 when given sources, else echoes."""

    def reply_for(self, messages: list[ChatMessage]) -> list[str]:
        last = next((m.content for m in reversed(messages) if m.role == "user"), "")
        if '<source id="S' in last:
            return CITING_REPLY.split(" ")
        return super().reply_for(messages)


def build(home: Path, runtime: FakeRuntime) -> Backend:
    settings = Settings(
        default_model="fake-model",
        generation=GenerationSettings(max_tokens=512),
        rag=RagSettings(rewrite="never"),  # deterministic: no hidden rewrite call
    )
    return Backend(locations=Locations(home), settings=settings, runtimes=[runtime])


MakeBackend = Callable[[FakeRuntime], Backend]


@pytest.fixture
async def backends(tmp_path: Path) -> AsyncIterator[MakeBackend]:
    """Backends on one data folder (a test can 'restart' the app)."""
    made: list[Backend] = []

    def make(runtime: FakeRuntime) -> Backend:
        made.append(build(tmp_path / "home", runtime))
        return made[-1]

    yield make
    for backend in made:
        if getattr(backend, "_db", None) is not None:
            await backend.close()


async def test_sources_under_a_reply_open_in_the_viewer_and_the_editor(
    backends: MakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    garden, _ = make_library(tmp_path / "library")
    record = tmp_path / "editor-argv.txt"
    editor = tmp_path / "editor.sh"
    editor.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\n')
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.delenv("VISUAL", raising=False)

    app = make_app(backends(CitingRuntime(delay_s=0.1)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await add_and_index(app, garden)

        await ask(pilot, "How often should I water tomatoes?")
        # retrieval is reported before the first token
        await wait_for(
            pilot,
            lambda: len(messages(app)) == 2 and reply(app).sources.status_text.startswith("Found"),
            timeout=INDEX_TIMEOUT,
        )
        found = reply(app).sources.status_text
        await settle(pilot, timeout=30)
        stored = await app.backend.documents.message_sources(reply(app).message_id)
        assert len(stored) >= 4
        assert found == f"Found {len(stored)} passages"
        assert [s.n for s in stored if s.cited] == [1, 3]

        panel = reply(app).sources
        assert panel.display
        cited = line_text(panel, "-cited")
        assert cited.startswith("Sources")
        assert "[S1] " in cited and "[S3] " in cited and "[S2]" not in cited
        assert "[S9] not among the sources given" in cited
        collapsible = panel.query_one(Collapsible)
        assert collapsible.collapsed
        assert collapsible.title == f"{len(stored) - 2} more retrieved, not cited"
        uncited = line_text(panel, "-uncited")
        assert "[S2] " in uncited and "[S4] " in uncited
        # the hostile file carries a warning wherever it is listed
        (hostile,) = [s for s in stored if s.path.endswith("tips.txt")]
        assert hostile.flags
        assert f"tips.txt ⚠ {', '.join(hostile.flags)}" in cited + uncited

        # keyboard: s goes to the sources, → picks S3, Enter opens it
        reply(app).focus()
        await pilot.press("s")
        await settle(pilot)
        line = panel.query_one(".-cited", SourceLine)
        assert app.focused is line
        await pilot.press("right", "enter")
        await wait_screen(pilot, SourceViewerScreen)
        viewer = app.screen
        assert isinstance(viewer, SourceViewerScreen)
        await wait_for(pilot, lambda: viewer.view is not None)
        s3 = next(s for s in stored if s.n == 3)
        assert viewer.source.n == 3
        area = viewer.query_one(TextArea)
        assert area.selected_text == s3.text  # the passage is highlighted in its document
        assert viewer.view is not None and s3.text in viewer.view.text

        # o opens the file in $EDITOR at the passage's line
        await pilot.press("o")
        await wait_for(pilot, record.exists)
        await wait_for(pilot, lambda: len(record.read_text().splitlines()) == 2)
        line_no = viewer.view.line
        assert line_no is not None
        assert record.read_text().splitlines() == [f"+{line_no}", s3.path]
        on_disk = Path(s3.path).read_text().splitlines()[line_no - 1]
        assert on_disk and on_disk in s3.text

        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard == s3.text
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main

        # a click on a source opens it too
        await pilot.click(line, offset=(len("Sources  ") + 1, 0))
        await wait_screen(pilot, SourceViewerScreen)
        assert isinstance(app.screen, SourceViewerScreen) and app.screen.source.n == 1
        await pilot.press("escape")
        await settle(pilot)

        # a file that has gone: the stored passage is shown, opening it says so
        Path(s3.path).unlink()
        record.unlink()
        line.focus()
        await pilot.press("right", "enter")
        await wait_screen(pilot, SourceViewerScreen)
        gone = app.screen
        assert isinstance(gone, SourceViewerScreen)
        await wait_for(pilot, lambda: gone.view is not None)
        assert gone.query_one(TextArea).text == s3.text
        await pilot.press("o")
        await pilot.pause()
        assert not record.exists()
        assert any("no longer at" in n for n in notices(app))
        await pilot.press("escape")
    await app.backend.close()

    # after a restart the reply shows the same sources, from the store
    app = make_app(backends(CitingRuntime()))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, timeout=INDEX_TIMEOUT)
        await wait_for(pilot, lambda: len(messages(app)) == 2)
        await settle(pilot)
        panel = reply(app).sources
        assert line_text(panel, "-cited") == cited
        assert line_text(panel, "-uncited") == uncited
        # the hostile file (tips.txt) may have been the one deleted: no stale warning
        hostile_left = (garden / "tips.txt").exists()
        warned = any("tries to instruct" in n for n in notices(app))
        assert warned == hostile_left


async def test_start_warns_about_documents_that_try_to_instruct(
    backends: MakeBackend, tmp_path: Path
) -> None:
    garden, _ = make_library(tmp_path / "library")
    app = make_app(backends(CitingRuntime()))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await add_and_index(app, garden)
        assert not any("tries to instruct" in n for n in notices(app))
    await app.backend.close()

    app = make_app(backends(CitingRuntime()))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, timeout=INDEX_TIMEOUT)
        await wait_for(pilot, lambda: any("tries to instruct" in n for n in notices(app)))
        warning = next(n for n in notices(app) if "tries to instruct" in n)
        assert warning.startswith("1 document contains text that tries to instruct")
        assert "tips.txt" in warning


async def test_documents_switch_is_stored_per_chat(backends: MakeBackend, tmp_path: Path) -> None:
    garden, trips = make_library(tmp_path / "library")
    runtime = CitingRuntime()
    app = make_app(backends(runtime))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ids = await add_and_index(app, garden, trips)
        status = app.main.query_one("#status")

        # auto: on, because documents are indexed
        await ask(pilot, "Do tomatoes need sun?")
        await settle(pilot, timeout=30)
        assert "docs: auto (on)" in str(status.render())
        assert reply(app).sources.display
        cid = app.main.conversation_id
        assert cid is not None

        await pilot.press("ctrl+d")
        await settle(pilot)
        assert "docs: off" in str(status.render())
        assert (await app.backend.conversations.get_conversation(cid)).use_documents is False
        await ask(pilot, "Do tomatoes need water?")
        await settle(pilot, timeout=30)
        assert not reply(app).sources.display
        assert "<source" not in runtime.requests[-1].messages[-1].content

        # the palette's picker: on, only the trips folder
        app.main.action_pick_documents()
        await wait_screen(pilot, PickerScreen)
        options = app.screen.query_one(OptionList)
        options.highlighted = next(
            i
            for i in range(options.option_count)
            if options.get_option_at_index(i).id == f"folder:{ids['trips']}"
        )
        await pilot.press("enter")
        await settle(pilot)
        assert "docs: on · only trips" in str(status.render())
        conv = await app.backend.conversations.get_conversation(cid)
        assert (conv.use_documents, conv.folder_scope) == (True, [ids["trips"]])
    await app.backend.close()

    app = make_app(backends(CitingRuntime()))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, timeout=INDEX_TIMEOUT)
        assert app.main.conversation_id == cid
        assert "docs: on · only trips" in str(app.main.query_one("#status").render())
        await pilot.press("ctrl+d")
        await settle(pilot)
        assert "docs: off" in str(app.main.query_one("#status").render())


async def test_folder_tokens_scope_one_question(backends: MakeBackend, tmp_path: Path) -> None:
    garden, trips = make_library(tmp_path / "library")
    app = make_app(backends(CitingRuntime()))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await add_and_index(app, garden, trips)

        await ask(pilot, "@Trips when should I water tomatoes?")
        await settle(pilot, timeout=30)
        question, answer = messages(app)
        assert question.record.content == "when should I water tomatoes?"
        stored = await app.backend.documents.message_sources(answer.message_id)
        assert stored and all(Path(s.path).parent == trips for s in stored)

        # the next question searches everything again
        await ask(pilot, "when should I water tomatoes?")
        await settle(pilot, timeout=30)
        stored = await app.backend.documents.message_sources(reply(app).message_id)
        assert any(Path(s.path).parent == garden for s in stored)

        # an unknown folder sends nothing and keeps the text to fix
        await ask(pilot, "@nowhere anything?")
        await settle(pilot)
        assert len(messages(app)) == 4
        assert app.main.query_one(Composer).text == "@nowhere anything?"
        assert any("No document folder named @nowhere" in n for n in notices(app))
