"""App-wide features: themes, keymap, help, request log, palette, pickers, startup."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input, OptionList, Static, TextArea

from assistant import keys
from assistant.app import AssistantApp
from assistant.palette import AssistantCommands
from assistant.screens.edit_text import EditTextScreen
from assistant.screens.error import ErrorScreen
from assistant.screens.help import HelpScreen
from assistant.screens.picker import PickerScreen
from assistant.screens.presets import PresetsScreen
from assistant.screens.request_detail import RequestDetailScreen
from assistant.screens.request_log import RequestLogScreen
from assistant.theming import load_themes
from assistant.widgets.usage_charts import UsageChart
from backend import Backend
from backend.common.locations import Locations
from backend.runtimes.fake import FakeRuntime

from .helpers import (
    SIZE,
    MakeBackend,
    make_app,
    messages,
    notices,
    send,
    settle,
    wait_screen,
)


def test_theme_files_load() -> None:
    themes, errors = load_themes()
    assert errors == []
    names = {t.name for t in themes}
    assert {"assistant-dark", "assistant-light", "assistant-high-contrast"} <= names


async def test_theme_switch_is_remembered_across_restarts(backends: MakeBackend) -> None:
    app = make_app(backends())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "assistant-dark"
        await pilot.press("ctrl+t")
        await settle(pilot)
        switched = app.theme
        assert switched != "assistant-dark" and switched.startswith("assistant-")

    app = make_app(backends())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == switched

    # the config's theme wins over the remembered one
    app = make_app(backends(theme="assistant-light"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "assistant-light"


async def test_keybinding_remap_from_settings(backends: MakeBackend) -> None:
    backend = backends(keybindings={"new_conversation": "ctrl+b", "no_such_action": "x"})
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert any("no_such_action" in n for n in notices(app))
        await send(pilot, "first")
        first = app.main.conversation_id
        await pilot.press("ctrl+b")
        await settle(pilot)
        assert app.main.conversation_id != first
        assert len(await backend.conversations.list_conversations()) == 2
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert ["ctrl+b", "New chat"] in [list(r[:2]) for r in rows]


async def test_help_screen_lists_every_action(backends: MakeBackend) -> None:
    app = make_app(backends())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(DataTable)
        ids = {table.get_row_at(i)[2] for i in range(table.row_count)}
        assert {a.id for a in keys.ACTIONS} <= ids
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_request_log_shows_rows_and_stats(backends: MakeBackend) -> None:
    backend = backends()
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "one")
        await send(pilot, "two")
        # one of the replies grounded: a retrieve row under its generate row
        (first, *_) = await backend.telemetry.request_log()
        backend.core.stores.requests.record(
            runtime="rag", model="", usage=None, stop_reason="stop", stage="retrieve",
            parent_request_id=first.id, total_ms=42.0,
        )  # fmt: skip
        await pilot.press("f9")
        await settle(pilot)
        assert isinstance(app.screen, RequestLogScreen)
        requests = app.screen.query_one("#requests", DataTable)
        assert requests.row_count == 3
        assert requests.get_row_at(0)[1] == "  └ retrieve"  # newest first
        assert requests.get_row_at(1)[1] == "generate"
        assert requests.get_row_at(1)[2] == "fake-model"
        # the statistics are charts, drawn from the log's usage stats
        charts = {c.id: c for c in app.screen.query(UsageChart)}
        assert set(charts) == {"chart-tokens", "chart-ttft", "chart-decode", "chart-stages",
                               "chart-thumbs"}  # fmt: skip
        tokens = charts["chart-tokens"]
        assert tokens.stats is not None and tokens.has_data
        (day,) = tokens.stats.tokens
        assert (day.model, day.requests) == ("fake-model", 2)
        assert charts["chart-ttft"].has_data and charts["chart-decode"].has_data
        assert charts["chart-stages"].has_data
        assert "retrieve" in str(charts["chart-stages"].render())
        assert not charts["chart-thumbs"].has_data  # no votes yet
        assert "Tokens per day" in str(tokens.render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main


async def test_a_request_opens_in_full_and_replays(backends: MakeBackend) -> None:
    """Enter on a row of the request log shows what ``assistant log show``
    prints -- prompt versions, the messages as sent, the output -- and
    ``r`` replays it and says whether it came back identical."""
    backend = backends()
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "tell me about lighthouses")
        (row,) = await backend.telemetry.request_log()
        await pilot.press("f9")
        await settle(pilot)
        requests = app.screen.query_one("#requests", DataTable)
        requests.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RequestDetailScreen)
        text = app.screen.query_one(TextArea).text
        assert f"request {row.id}" in text and "stage generate" in text
        assert "prompt   preset:Assistant" in text  # its prompt version
        assert "--- user\ntell me about lighthouses" in text  # the messages as sent
        assert row.conversation_id is not None
        reply = (await backend.conversations.thread(row.conversation_id))[-1].content
        assert f"=== output\n{reply}" in text
        await pilot.press("r")
        await settle(pilot)
        note = str(app.screen.query_one("#request-note", Static).render())
        assert "identical" in note and "replay" in app.screen.query_one(TextArea).text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RequestLogScreen)


async def test_palette_has_an_entry_for_every_action(backends: MakeBackend) -> None:
    app = make_app(backends())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        provider = AssistantCommands(app.screen)
        titles = {title for title, _, _ in provider._commands()}
        for action in keys.ACTIONS:
            if action.scope != "composer":
                assert action.title in titles
        assert "Theme: assistant-light" in titles
        # and running one from the palette works
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Request log")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RequestLogScreen)


async def test_model_preset_and_system_prompt(backends: MakeBackend) -> None:
    backend = backends(FakeRuntime(models=("fake-model", "fake-large")))
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "hi")
        cid = app.main.conversation_id
        assert cid is not None
        await pilot.press("f4")
        await wait_screen(pilot, PickerScreen)
        assert isinstance(app.screen, PickerScreen)
        options = app.screen.query_one(OptionList)
        options.highlighted = 1
        await pilot.press("enter")
        await settle(pilot)
        assert (await backend.conversations.get_conversation(cid)).model == "fake-large"
        assert app.main.sub_title == "fake-large"

        await backend.conversations.save_preset("Pirate", "Talk like a pirate.")
        await pilot.press("f5")
        await wait_screen(pilot, PickerScreen)
        assert isinstance(app.screen, PickerScreen)
        ids = [o.id for o in app.screen.query_one(OptionList).options]
        app.screen.query_one(OptionList).highlighted = ids.index("Pirate")
        await pilot.press("enter")
        await settle(pilot)
        conv = await backend.conversations.get_conversation(cid)
        assert (conv.preset, conv.system_prompt) == ("Pirate", "Talk like a pirate.")

        await pilot.press("f6")
        await wait_screen(pilot, EditTextScreen)
        app.screen.query_one(TextArea).text = "Be brief."
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert (await backend.conversations.get_conversation(cid)).system_prompt == "Be brief."


async def test_presets_can_be_created_and_deleted(backends: MakeBackend) -> None:
    backend = backends()
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f7")
        await settle(pilot)
        assert isinstance(app.screen, PresetsScreen)
        await pilot.click("#new")
        app.screen.query_one("#preset-name", Input).value = "Terse"
        app.screen.query_one("#preset-prompt", TextArea).text = "One line answers."
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Terse" in {p.name for p in await backend.conversations.presets()}
        await pilot.click("#delete")
        await settle(pilot)
        assert "Terse" not in {p.name for p in await backend.conversations.presets()}


async def test_startup_failure_shows_an_error_modal_and_can_quit(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("generation = { temperature = 9 }\n")
    app = AssistantApp(Backend(Locations(tmp_path), runtimes=[FakeRuntime()]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_screen(pilot, ErrorScreen)
        assert isinstance(app.screen, ErrorScreen)
        assert "temperature" in app.screen.message
        await pilot.click("#quit")
        await pilot.pause()
    assert app.return_code == 1


async def test_sending_works_before_and_after_other_screens(backends: MakeBackend) -> None:
    app = make_app(backends())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.press("escape")
        await send(pilot, "still fine")
        assert len(messages(app)) == 2


async def test_a_corrupt_database_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "assistant.db").write_bytes(b"definitely not sqlite " * 500)
    app = AssistantApp(Backend(Locations(tmp_path), runtimes=[FakeRuntime()]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_screen(pilot, ErrorScreen)
        assert isinstance(app.screen, ErrorScreen)
        assert "database" in app.screen.message.lower()
        await pilot.click("#quit")
        await pilot.pause()
    assert app.return_code == 1
    # nothing was overwritten: the user's file is still there to recover
    assert (tmp_path / "assistant.db").read_bytes().startswith(b"definitely not sqlite")
