"""Conversations: new, rename, delete, search, reopening the last one."""

from __future__ import annotations

from textual.widgets import Input, ListView

from assistant.screens.confirm import ConfirmScreen
from assistant.screens.text_input import TextInputScreen
from assistant.widgets.sidebar import ConversationItem, HitItem

from .helpers import SIZE, MakeBackend, make_app, messages, send, settle, wait_screen


async def test_new_rename_delete(backends: MakeBackend) -> None:
    backend = backends()
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "keep this one")
        first = app.main.conversation_id
        await pilot.press("ctrl+n")
        await settle(pilot)
        second = app.main.conversation_id
        assert second is not None and second != first
        assert messages(app) == []
        assert len(await backend.conversations.list_conversations()) == 2

        await pilot.press("f2")
        await wait_screen(pilot, TextInputScreen)
        assert isinstance(app.screen, TextInputScreen)
        app.screen.query_one(Input).value = "Renamed chat"
        await pilot.press("enter")
        await settle(pilot)
        assert (await backend.conversations.get_conversation(second)).title == "Renamed chat"
        assert app.main.title == "Renamed chat"
        items = list(app.main.query(ConversationItem))
        assert [i.conversation_id for i in items] == [second, first]  # newest first

        await pilot.press("f8")
        await wait_screen(pilot, ConfirmScreen)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.click("#confirm")
        await settle(pilot)
        assert [c.id for c in await backend.conversations.list_conversations()] == [first]
        assert app.main.conversation_id == first
        assert "Echo: keep this one" in messages(app)[1].text


async def test_delete_can_be_cancelled(backends: MakeBackend) -> None:
    backend = backends()
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "do not delete")
        await pilot.press("f8")
        await wait_screen(pilot, ConfirmScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert len(await backend.conversations.list_conversations()) == 1


async def test_search_finds_a_message_in_another_conversation(backends: MakeBackend) -> None:
    backend = backends()
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "the zebra crossed the road")
        zebra = app.main.conversation_id
        await pilot.press("ctrl+n")
        await settle(pilot)
        await send(pilot, "something unrelated")
        assert app.main.conversation_id != zebra
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert isinstance(app.focused, Input)
        await pilot.press(*"zebra")
        await settle(pilot)
        hits = list(app.main.query(HitItem))
        assert hits and all(h.hit.conversation_id == zebra for h in hits)
        view = app.main.query_one("#hits", ListView)
        view.focus()
        view.index = 0
        await pilot.press("enter")
        await settle(pilot)
        assert app.main.conversation_id == zebra
        assert messages(app)[0].record.content == "the zebra crossed the road"
        assert app.focused is not None and app.focused in messages(app)


async def test_the_last_conversation_reopens(backends: MakeBackend) -> None:
    app = make_app(backends())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "the first chat")
        first = app.main.conversation_id
        await pilot.press("ctrl+n")
        await settle(pilot)
        await send(pilot, "the second chat")
        app.main.load(first)  # what clicking it in the sidebar does
        await settle(pilot)
        assert app.main.conversation_id == first

    app = make_app(backends())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.main.conversation_id == first
        assert messages(app)[0].record.content == "the first chat"


async def test_clicking_a_conversation_opens_it(backends: MakeBackend) -> None:
    app = make_app(backends())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "older chat")
        older = app.main.conversation_id
        await pilot.press("ctrl+n")
        await settle(pilot)
        items = list(app.main.query(ConversationItem))
        target = next(i for i in items if i.conversation_id == older)
        await pilot.click(target)
        await settle(pilot)
        assert app.main.conversation_id == older
