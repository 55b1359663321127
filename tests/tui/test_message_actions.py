"""Per-message actions: branches, thumbs, edits, regenerate and copy."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import TextArea

from assistant.screens.edit_text import EditTextScreen

from .helpers import (
    SIZE,
    MakeBackend,
    focus_message,
    make_app,
    messages,
    send,
    settle,
    wait_screen,
)


async def _edit_in_modal(pilot: Pilot[Any], text: str) -> None:
    await pilot.press("e")
    await wait_screen(pilot, EditTextScreen)
    assert isinstance(pilot.app.screen, EditTextScreen)
    pilot.app.screen.query_one(TextArea).text = text
    await pilot.press("ctrl+s")
    await settle(pilot)


async def test_edit_and_resend_makes_a_branch_and_switching_shows_the_old_one(
    backends: MakeBackend,
) -> None:
    backend = backends()
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "first question")
        await focus_message(pilot, 0)
        await _edit_in_modal(pilot, "second question")
        user, reply = messages(app)
        assert user.record.content == "second question"
        assert (user.record.sibling_index, user.record.sibling_count) == (2, 2)
        assert "‹ 2/2 ›" in str(user.footer_text())
        assert "Echo: second question" in reply.text
        await focus_message(pilot, 0)
        await pilot.press("left")
        await settle(pilot)
        user, reply = messages(app)
        assert user.record.content == "first question"
        assert "1/2" in str(user.footer_text())
        assert "Echo: first question" in reply.text
        thread = await backend.conversations.thread(app.main.conversation_id)  # type: ignore[arg-type]
        assert thread[0].content == "first question"


async def test_thumbs_toggle_and_are_stored(backends: MakeBackend) -> None:
    backend = backends()
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "rate me")
        cid = app.main.conversation_id
        assert cid is not None
        await focus_message(pilot, 1)
        await pilot.press("plus")
        await settle(pilot)
        assert (await backend.conversations.thread(cid))[1].rating == 1
        assert "liked" in str(messages(app)[1].footer_text())
        await pilot.press("plus")
        await settle(pilot)
        assert (await backend.conversations.thread(cid))[1].rating == 0
        await pilot.press("minus")
        await settle(pilot)
        assert (await backend.conversations.thread(cid))[1].rating == -1
        assert "disliked" in str(messages(app)[1].footer_text())


async def test_edit_reply_is_stored_and_marked(backends: MakeBackend) -> None:
    backend = backends()
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "say something")
        await focus_message(pilot, 1)
        await _edit_in_modal(pilot, "A **better** answer")
        stored = (await backend.conversations.thread(app.main.conversation_id))[1]  # type: ignore[arg-type]
        assert stored.edited_content == "A **better** answer"
        reply = messages(app)[1]
        assert reply.text == "A **better** answer"
        assert "edited" in str(reply.footer_text())


async def test_regenerate_adds_a_sibling_reply(backends: MakeBackend) -> None:
    backend = backends()
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "again please")
        await focus_message(pilot, 1)
        await pilot.press("r")
        await settle(pilot)
        reply = messages(app)[1]
        assert (reply.record.sibling_index, reply.record.sibling_count) == (2, 2)
        assert "‹ 2/2 ›" in str(reply.footer_text())
        thread = await backend.conversations.thread(app.main.conversation_id)  # type: ignore[arg-type]
        assert thread[1].sibling_count == 2


async def test_copy_message_and_last_code_block(backends: MakeBackend) -> None:
    backend = backends()
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "look:\n```python\nprint('hi')\n```\nand\n```\nlast = 1\n```")
        await focus_message(pilot, 0)
        await pilot.press("c")
        await settle(pilot)
        assert app.clipboard.startswith("look:")
        await pilot.press("y")
        await settle(pilot)
        assert app.clipboard == "last = 1"


async def test_palette_actions_apply_to_the_latest_reply(backends: MakeBackend) -> None:
    backend = backends()
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "palette")
        await app.main.run_action("message('thumbs_up')")
        await settle(pilot)
        thread = await backend.conversations.thread(app.main.conversation_id)  # type: ignore[arg-type]
        assert thread[1].rating == 1
