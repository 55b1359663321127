"""Past chats and long conversations in the TUI: a question about an earlier
conversation is answered with a citation that opens that conversation at
the cited message; the status line shows the context meter; a long chat
shows its summary (editable with ``e``) and the "summarised" notice.

The model is a FakeRuntime (cites ``[S1]`` when given sources, writes a
fixed summary when asked for one); the past-chats index is real (MiniLM).
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static, TextArea

from assistant.screens.edit_text import EditTextScreen
from assistant.widgets.sources import SourceLine
from assistant.widgets.summary import SummaryWidget
from backend import Backend
from backend.chat.summary import INSTRUCTION
from backend.common.config import GenerationSettings, Settings
from backend.common.locations import Locations
from backend.runtimes.base import ChatMessage
from backend.runtimes.fake import FakeRuntime

from .helpers import SIZE, make_app, messages, send, settle, wait_for, wait_screen

TRIP = "Our Lisbon trip: we go in May and take the night train."


def respond(messages: list[ChatMessage]) -> str:
    last = messages[-1].content
    if last.startswith(INSTRUCTION):
        return "The user planned small things."
    if "<source" in last:
        return "You said May, by night train [S1]."
    return "Noted: " + " ".join(last.split()[:8])


def build(home: Path, context: int = 4096, max_tokens: int = 256) -> Backend:
    settings = Settings(
        default_model="fake-model", generation=GenerationSettings(max_tokens=max_tokens)
    )
    settings.tools.enabled = False
    runtime = FakeRuntime(responder=respond, context=context)
    return Backend(locations=Locations(home), settings=settings, runtimes=[runtime])


def status(app: object) -> str:
    return str(app.main.query_one("#status", Static).render())  # type: ignore[attr-defined]


async def test_a_past_chat_citation_opens_that_conversation_at_the_message(
    tmp_path: Path,
) -> None:
    backend = build(tmp_path / "home")
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, TRIP)
        for i in range(6):  # more turns, so the cited message is off screen
            await send(pilot, f"Something else number {i}: " + "words " * 30)
        trip_id = app.main.conversation_id
        opening = {m.message_id for m in messages(app)[:2]}  # the trip: question, reply
        assert "ctx " in status(app)  # the context meter after a reply
        assert backend.core.chats.wait_idle(60)

        await app.main.run_action("new_conversation")
        await settle(pilot)
        await send(pilot, "@chats when do we go to Lisbon?")
        await settle(pilot)
        reply = messages(app)[-1]
        assert app.main.conversation_id != trip_id
        line = reply.sources.query_one(".-cited", SourceLine)
        text = line.render().plain
        assert "[S1] conversation “Our Lisbon trip" in text
        stored = await backend.documents.message_sources(reply.message_id)
        assert stored[0].kind == "conversation" and stored[0].conversation_id == trip_id
        cited_id = stored[0].conversation_message_id
        assert cited_id in opening

        line.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.main.conversation_id == trip_id)
        # (the open is an exclusive "load" worker: wait for its result, not settle)
        await wait_for(pilot, lambda: app.focused is app.main.chat.widget_for(cited_id))
        await pilot.pause()
        target = app.main.chat.widget_for(cited_id)
        assert target is not None
        assert "Lisbon" in target.record.content
        chat = app.main.chat
        assert chat.max_scroll_y > 0  # the thread is longer than the view
        assert chat.scroll_y < chat.max_scroll_y  # scrolled up to the message, not left at the end
        assert target.region.y >= chat.region.y and target.region.y < chat.region.bottom
    await backend.close()


async def test_a_long_chat_shows_its_summary_and_the_user_edits_it(tmp_path: Path) -> None:
    backend = build(tmp_path / "home", context=300, max_tokens=40)
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for i in range(10):
            await send(pilot, f"Turn {i}: " + "talk " * 12)
        notices = [str(n.render()) for n in app.main.chat.query(".notice")]
        assert any("earlier messages summarised" in n for n in notices)
        assert "ctx " in status(app) and "/300" in status(app)
        (widget,) = app.main.chat.query(SummaryWidget)
        assert "The user planned small things." in str(widget.render())
        assert str(widget.render()).startswith("Summary of ")

        widget.focus()
        await pilot.press("e")
        await wait_screen(pilot, EditTextScreen)
        area = app.screen.query_one(TextArea)
        area.text = "The user talks a lot; keep it short."
        await pilot.press("ctrl+s")
        await settle(pilot)
        summary = await backend.conversations.conversation_summary(app.main.conversation_id)
        assert summary is not None and summary.edited
        assert summary.content == "The user talks a lot; keep it short."
        (widget,) = app.main.chat.query(SummaryWidget)
        assert "keep it short" in str(widget.render()) and "edited" in str(widget.render())
    await backend.close()
