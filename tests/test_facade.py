"""The chat loop through the facade, on the deterministic fake runtime."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from backend import Backend
from backend.chat.summary import HEADER, INSTRUCTION
from backend.common.config import Settings
from backend.common.errors import ModelError, NotFoundError
from backend.common.events import (
    ContextMeter,
    Done,
    ErrorEvent,
    HistorySummarised,
    HistoryTrimmed,
    MessageSaved,
    MessageStarted,
    TextDelta,
    Usage,
)
from backend.common.locations import Locations
from backend.runtimes.base import ChatMessage
from backend.runtimes.fake import FakeRuntime


async def test_send_streams_and_stores(backend: Backend) -> None:
    stream = await backend.chat.send(None, "hello there")
    events = await stream.collect()
    kinds = [type(e) for e in events]
    assert kinds[0] is MessageStarted
    assert kinds[-4:] == [Usage, Done, ContextMeter, MessageSaved]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "Echo: hello there"
    conv = await backend.conversations.get_conversation(stream.conversation_id)
    assert conv.title == "hello there"
    assert conv.system_prompt  # the default preset's prompt
    thread = await backend.conversations.thread(stream.conversation_id)
    assert [(m.role, m.content, m.status) for m in thread] == [
        ("user", "hello there", "complete"),
        ("assistant", "Echo: hello there", "complete"),
    ]
    rec = await backend.telemetry.request(thread[1].request_id or -1)
    assert rec is not None
    assert rec.model == "fake-model" and rec.runtime == "fake"
    assert rec.completion_tokens == 3 and rec.stop_reason == "stop"
    assert rec.conversation_id == stream.conversation_id and rec.message_id == thread[1].id


async def test_history_goes_to_the_runtime_in_order(
    backend: Backend, fake_runtime: FakeRuntime
) -> None:
    s = await backend.chat.send(None, "one")
    await s.collect()
    s2 = await backend.chat.send(s.conversation_id, "two")
    await s2.collect()
    msgs = fake_runtime.requests[-1].messages
    assert [m.role for m in msgs] == ["system", "user", "assistant", "user"]
    assert [m.content for m in msgs[1:]] == ["one", "Echo: one", "two"]
    # the prefix is byte-identical to the previous request's messages
    assert fake_runtime.requests[0].messages == msgs[:2]


async def test_cancel_keeps_partial_reply(locations: Locations) -> None:
    rt = FakeRuntime(delay_s=0.01, reply_words=500)
    b = await Backend.open(
        locations=locations, settings=Settings(default_model="fake-model"), runtimes=[rt]
    )
    try:
        stream = await b.chat.send(None, "go")
        seen = 0
        events = []
        async for e in stream:
            events.append(e)
            if isinstance(e, TextDelta):
                seen += 1
                if seen == 5:
                    b.chat.cancel(stream.conversation_id)
        done = next(e for e in events if isinstance(e, Done))
        assert done.stop_reason == "cancelled"
        thread = await b.conversations.thread(stream.conversation_id)
        reply = thread[-1]
        assert reply.status == "cancelled"
        assert 5 <= len(reply.content.split()) < 100
        log = await b.telemetry.request_log()
        assert log[0].stop_reason == "cancelled"
    finally:
        await b.close()


async def test_leaving_the_loop_early_cancels(locations: Locations) -> None:
    rt = FakeRuntime(delay_s=0.01, reply_words=500)
    b = await Backend.open(
        locations=locations, settings=Settings(default_model="fake-model"), runtimes=[rt]
    )
    try:
        stream = await b.chat.send(None, "go")
        async for e in stream:
            if isinstance(e, TextDelta):
                break
        await stream.aclose()
        thread = await b.conversations.thread(stream.conversation_id)
        assert thread[-1].status == "cancelled"
    finally:
        await b.close()


async def test_regenerate_and_edit_make_branches(backend: Backend) -> None:
    s = await backend.chat.send(None, "first")
    await s.collect()
    cid = s.conversation_id
    thread = await backend.conversations.thread(cid)
    await (await backend.chat.regenerate(thread[1].id)).collect()
    thread = await backend.conversations.thread(cid)
    assert (thread[1].sibling_index, thread[1].sibling_count) == (2, 2)
    # edit the user message: a sibling user message with its own reply
    await (await backend.chat.edit_and_resend(thread[0].id, "second")).collect()
    thread = await backend.conversations.thread(cid)
    assert [m.content for m in thread] == ["second", "Echo: second"]
    assert (thread[0].sibling_index, thread[0].sibling_count) == (2, 2)
    # switch back: the old branch, with its remembered regenerated reply
    thread = await backend.conversations.switch_branch(thread[0].id, -1)
    assert thread[0].content == "first"
    assert (thread[1].sibling_index, thread[1].sibling_count) == (2, 2)
    # and the choice is remembered
    assert [m.id for m in await backend.conversations.thread(cid)] == [m.id for m in thread]


async def test_follow_up_after_branch_switch_uses_that_branch(
    backend: Backend, fake_runtime: FakeRuntime
) -> None:
    s = await backend.chat.send(None, "alpha")
    await s.collect()
    t = await backend.conversations.thread(s.conversation_id)
    await (await backend.chat.edit_and_resend(t[0].id, "beta")).collect()
    beta = (await backend.conversations.thread(s.conversation_id))[0]
    assert beta.content == "beta"
    await backend.conversations.switch_branch(beta.id, -1)  # back to alpha
    await (await backend.chat.send(s.conversation_id, "more")).collect()
    contents = [m.content for m in fake_runtime.requests[-1].messages[1:]]
    assert contents == ["alpha", "Echo: alpha", "more"]
    thread = await backend.conversations.thread(s.conversation_id)
    assert [m.content for m in thread] == ["alpha", "Echo: alpha", "more", "Echo: more"]


async def test_feedback_is_stored_and_edited_reply_is_used(
    backend: Backend, fake_runtime: FakeRuntime
) -> None:
    s = await backend.chat.send(None, "q")
    await s.collect()
    reply = (await backend.conversations.thread(s.conversation_id))[1]
    m = await backend.conversations.rate(reply.id, 1)
    assert m.rating == 1
    m = await backend.conversations.edit_reply(reply.id, "A better answer.")
    assert m.rating == 1 and m.edited_content == "A better answer."
    assert m.display_content == "A better answer." and m.content == "Echo: q"
    m = await backend.conversations.rate(reply.id, -1)
    assert m.rating == -1 and m.edited_content == "A better answer."
    await (await backend.chat.send(s.conversation_id, "next")).collect()
    assert fake_runtime.requests[-1].messages[2].content == "A better answer."
    with pytest.raises(ValueError):
        await backend.conversations.rate(reply.id, 5)
    user = (await backend.conversations.thread(s.conversation_id))[0]
    with pytest.raises(ValueError):
        await backend.conversations.rate(user.id, 1)


def _summariser_or_echo(summary: str) -> Callable[[list[ChatMessage]], str]:
    """Replies echo the question; the summariser's request gets ``summary``."""

    def respond(messages: list[ChatMessage]) -> str:
        last = messages[-1].content
        if last.startswith(INSTRUCTION):
            return summary
        return "Echo: " + " ".join(last.split()[:6])

    return respond


async def test_a_long_conversation_is_summarised_not_dropped(locations: Locations) -> None:
    rt = FakeRuntime(context=200, responder=_summariser_or_echo("the user likes tea"))
    settings = Settings(default_model="fake-model")
    settings.generation.max_tokens = 60
    b = await Backend.open(locations=locations, settings=settings, runtimes=[rt])
    try:
        cid = None
        summarised: list[HistorySummarised] = []
        trimmed: list[HistoryTrimmed] = []
        for i in range(12):
            s = await b.chat.send(cid, f"message number {i} " + "word " * 10)
            cid = s.conversation_id
            events = await s.collect()
            summarised += [e for e in events if isinstance(e, HistorySummarised)]
            trimmed += [e for e in events if isinstance(e, HistoryTrimmed)]
        assert summarised and not trimmed, "old turns are summarised, not left out"
        last = rt.requests[-1].messages
        assert last[0].role == "system" and HEADER in last[0].content
        assert "the user likes tea" in last[0].content
        assert last[-1].content.startswith("message number 11")
        assert sum(rt.count_tokens(rt.list_models()[0], last)) <= 200 - 60
        summary = await b.conversations.conversation_summary(cid)
        assert summary is not None and summary.covered == summarised[-1].summarised_messages
        # nothing is deleted from the conversation itself
        assert len(await b.conversations.thread(cid)) == 24
        # the summary is cached: the turns after a fold send the same prefix
        prefixes = [r.messages[0].content for r in rt.requests if r.params.max_tokens == 60]
        assert prefixes.count(prefixes[-1]) >= 2
        # the user's edit is what the next turn sends (or folds further)
        await b.conversations.edit_summary(cid, "the user prefers green tea")
        sent = len(rt.requests)
        s = await b.chat.send(cid, "and now?")
        await s.collect()
        after = [m.content for r in rt.requests[sent:] for m in r.messages]
        assert any("the user prefers green tea" in text for text in after)
    finally:
        await b.close()


async def test_an_empty_summary_falls_back_to_leaving_turns_out(locations: Locations) -> None:
    rt = FakeRuntime(context=200, responder=_summariser_or_echo(""))
    settings = Settings(default_model="fake-model")
    settings.generation.max_tokens = 60
    b = await Backend.open(locations=locations, settings=settings, runtimes=[rt])
    try:
        cid = None
        trimmed = []
        for i in range(12):
            s = await b.chat.send(cid, f"message number {i} " + "word " * 10)
            cid = s.conversation_id
            trimmed += [e for e in await s.collect() if isinstance(e, HistoryTrimmed)]
        assert trimmed and all(t.dropped_messages > 0 for t in trimmed)
        assert await b.conversations.conversation_summary(cid) is None
        last = rt.requests[-1].messages
        assert sum(rt.count_tokens(rt.list_models()[0], last)) <= 200 - 60
    finally:
        await b.close()


async def test_runtime_error_is_reported_and_logged(locations: Locations) -> None:
    rt = FakeRuntime(fail_with="the model fell over")
    b = await Backend.open(
        locations=locations, settings=Settings(default_model="fake-model"), runtimes=[rt]
    )
    try:
        events = await (await b.chat.send(None, "hi")).collect()
        err = next(e for e in events if isinstance(e, ErrorEvent))
        assert "fell over" in err.message
        assert next(e for e in events if isinstance(e, Done)).stop_reason == "error"
        log = await b.telemetry.request_log()
        assert log[0].error == "the model fell over" and log[0].stop_reason == "error"
        stats = await b.telemetry.stats()
        assert stats[0].errors == 1
    finally:
        await b.close()


async def test_unknown_model_is_refused_before_anything_is_written(backend: Backend) -> None:
    with pytest.raises(ModelError, match="not available"):
        await backend.chat.send(None, "hi", model="nope")
    assert await backend.conversations.list_conversations() == []


async def test_empty_message_is_refused(backend: Backend) -> None:
    with pytest.raises(ValueError):
        await backend.chat.send(None, "   ")


async def test_conversation_management_and_search(backend: Backend) -> None:
    a = await backend.chat.send(None, "the quick brown fox")
    await a.collect()
    b = await backend.chat.send(None, "lazy dogs sleep")
    await b.collect()
    convs = await backend.conversations.list_conversations()
    assert [c.id for c in convs] == [b.conversation_id, a.conversation_id]
    hits = await backend.conversations.search_messages("fox")
    assert {h.conversation_id for h in hits} == {a.conversation_id}
    assert any("[fox]" in h.snippet for h in hits)
    assert (
        await backend.conversations.search_messages('"unbalanced AND (') == []
    )  # never a syntax error
    assert {h.conversation_id for h in await backend.conversations.search_messages("sle")} == {
        b.conversation_id
    }
    renamed = await backend.conversations.rename_conversation(a.conversation_id, "Foxes")
    assert renamed.title == "Foxes"
    await backend.conversations.delete_conversation(a.conversation_id)
    assert [c.id for c in await backend.conversations.list_conversations()] == [b.conversation_id]
    assert await backend.conversations.search_messages("fox") == []
    with pytest.raises(NotFoundError):
        await backend.conversations.thread(a.conversation_id)


async def test_presets_and_models_per_conversation(locations: Locations) -> None:
    rt = FakeRuntime(models=("fake-a", "fake-b"))
    b = await Backend.open(
        locations=locations, settings=Settings(default_model="fake-a"), runtimes=[rt]
    )
    try:
        names = [p.name for p in await b.conversations.presets()]
        assert {"Assistant", "Concise", "Coder"} <= set(names)
        await b.conversations.save_preset("Pirate", "Talk like a pirate.")
        conv = await b.conversations.create_conversation(preset="Pirate", model="fake-b")
        assert conv.system_prompt == "Talk like a pirate." and conv.model == "fake-b"
        await (await b.chat.send(conv.id, "hi")).collect()
        assert rt.requests[-1].model.name == "fake-b"
        assert rt.requests[-1].messages[0].content == "Talk like a pirate."
        # editing the preset later does not rewrite the conversation
        await b.conversations.save_preset("Pirate", "Talk like a parrot.")
        assert (
            await b.conversations.get_conversation(conv.id)
        ).system_prompt == "Talk like a pirate."
        conv = await b.conversations.set_conversation_preset(conv.id, "Concise")
        assert conv.preset == "Concise"
        conv = await b.conversations.set_conversation_model(conv.id, "fake-a")
        assert conv.model == "fake-a"
        with pytest.raises(ModelError):
            await b.conversations.set_conversation_model(conv.id, "missing")
        await b.conversations.delete_preset("Pirate")
        assert "Pirate" not in [p.name for p in await b.conversations.presets()]
    finally:
        await b.close()


async def test_state_survives_restart(locations: Locations) -> None:
    b = await Backend.open(locations=locations, settings=Settings(), runtimes=[FakeRuntime()])
    await b.conversations.set_state("theme", "assistant-light")
    await b.close()
    b = await Backend.open(locations=locations, settings=Settings(), runtimes=[FakeRuntime()])
    try:
        assert await b.conversations.get_state("theme") == "assistant-light"
        assert await b.conversations.get_state("missing", "x") == "x"
    finally:
        await b.close()


async def test_event_loop_is_not_blocked_while_generating(locations: Locations) -> None:
    rt = FakeRuntime(delay_s=0.02, reply_words=30)
    b = await Backend.open(
        locations=locations, settings=Settings(default_model="fake-model"), runtimes=[rt]
    )
    try:
        stream = await b.chat.send(None, "go")
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        await stream.collect()
        task.cancel()
        assert ticks >= 20  # the loop kept running during ~0.6 s of generation
    finally:
        await b.close()
