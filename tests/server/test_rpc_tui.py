"""The real TUI on a ``RemoteBackend``: ``assistant --connect`` against a
real loopback server (fake runtime), driven with Pilot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from textual.widgets import Markdown
from tui.helpers import SIZE, messages, settle, wait_for

from assistant import clipboard
from assistant.app import AssistantApp
from assistant.widgets.composer import Composer
from backend import Backend
from backend.common.config import GenerationSettings, Settings
from backend.common.locations import Locations
from backend.remote import RemoteBackend
from backend.runtimes.fake import FakeRuntime

from .conftest import Running, start_server


@pytest.fixture(autouse=True)
def no_system_clipboard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clipboard, "system_copy_command", lambda: None)


@pytest.fixture
def slow_served(tmp_path: Path) -> Iterator[Running]:
    kwargs = {
        "locations": Locations(tmp_path / "server-home"),
        "settings": Settings(
            default_model="fake-model", generation=GenerationSettings(max_tokens=400)
        ),
        "runtimes": [FakeRuntime(delay_s=0.02, reply_words=200)],
    }
    yield from start_server(kwargs)


def remote_app(running: Running) -> tuple[AssistantApp, RemoteBackend]:
    remote = RemoteBackend(running.url, running.token)  # the app starts it
    return AssistantApp(cast(Backend, remote)), remote


async def test_the_tui_chats_through_a_running_server(served: Running) -> None:
    app, _remote = remote_app(served)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.ready and app.start_error is None
        composer = app.main.query_one(Composer)
        composer.focus()
        composer.text = "hello from the other side"
        await pilot.press("enter")
        await settle(pilot)
        widgets = messages(app)
        assert [w.record.role for w in widgets] == ["user", "assistant"]
        assert "Echo: hello from the other side" in widgets[1].query_one(Markdown).source
        assert widgets[1].record.status == "complete"
        cid = app.main.conversation_id
        assert cid is not None
        assert app.main.title == "hello from the other side"
    # the app closed its connection, not the server: a new client sees the chat
    again = await RemoteBackend.open(served.url, served.token)
    try:
        thread = await again.conversations.thread(cid)
        assert [m.content for m in thread] == [
            "hello from the other side",
            "Echo: hello from the other side",
        ]
    finally:
        await again.close()


async def test_escape_stops_a_remote_reply(slow_served: Running) -> None:
    app, remote = remote_app(slow_served)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.main.query_one(Composer).text = "tell me a long story"
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: len(messages(app)) == 2 and "w2" in messages(app)[1].query_one(Markdown).source,
        )
        await pilot.press("escape")
        await settle(pilot)
        reply = messages(app)[1]
        assert reply.record.status == "cancelled"
        stored = (await remote.conversations.thread(app.main.conversation_id))[-1]  # type: ignore[arg-type]
        assert stored.status == "cancelled" and "w199" not in stored.content
