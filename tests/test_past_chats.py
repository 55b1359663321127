"""Past chats as a source: the incremental index (real MiniLM), its search,
and a turn that answers from an earlier conversation with a citation."""

from __future__ import annotations

from backend import Backend
from backend.chat.chats_grounding import capped, wants_chats
from backend.common.config import Settings
from backend.common.events import CitationsParsed, SourcesRetrieved
from backend.common.locations import Locations
from backend.knowledge.chats_index import passages
from backend.runtimes.base import ChatMessage
from backend.runtimes.fake import FakeRuntime


async def _chat(backend: Backend, *turns: str) -> int:
    cid = None
    for text in turns:
        stream = await backend.chat.send(cid, text)
        cid = stream.conversation_id
        await stream.collect()
    assert cid is not None
    return cid


def _indexed(backend: Backend) -> dict[str, int]:
    assert backend.core.chats.wait_idle(60)
    assert backend.core.chats.error is None
    return backend.core.chats.store.counts()


def test_cues_and_the_chats_token() -> None:
    assert wants_chats("@chats the Lisbon trip") == (True, "the Lisbon trip")
    assert wants_chats("What did we decide about the budget?")[0]
    assert wants_chats("did we talk about rust last week")[0]
    assert not wants_chats("What is a GGUF file?")[0]
    assert not wants_chats("mail me at bob@chats.org")[0]
    long = "word " * 400
    assert capped(long).endswith("more characters left out]") and len(capped(long)) < 760
    assert len(passages("x " * 300)) == 3 and passages("  ") == []


async def test_turns_are_indexed_incrementally_and_edits_deletes_follow(backend: Backend) -> None:
    trip = await _chat(backend, "We decided the Lisbon trip is in May, budget 900 euros.")
    await backend.conversations.rename_conversation(trip, "Trip planning")
    other = await _chat(backend, "How do I boil an egg?")
    counts = _indexed(backend)
    assert counts["messages"] == 4  # two questions, two replies
    assert counts["chunks"] == counts["fts"] == counts["vectors"] == 4

    hits = await backend.conversations.search_conversations("when is the Portugal holiday?", k=2)
    assert hits[0].conversation_id == trip and hits[0].title == "Trip planning"
    assert "Lisbon" in hits[0].snippet and len(hits[0].date) == 10
    left_out = await backend.conversations.search_conversations(
        "Lisbon trip", k=5, exclude_conversation_id=trip
    )
    assert all(h.conversation_id != trip for h in left_out)

    # an edited reply is indexed again, with the user's version
    reply = (await backend.conversations.thread(trip))[1]
    await backend.conversations.edit_reply(reply.id, "Noted: Lisbon in May, 900 euros, by train.")
    backend.core.chats.schedule()
    _indexed(backend)
    hits = await backend.conversations.search_conversations("by train", k=1)
    assert hits[0].message_id == reply.id and "by train" in hits[0].snippet

    # deleting a conversation removes its entries (chunks, FTS rows, vectors)
    await backend.conversations.delete_conversation(trip)
    counts = backend.core.chats.store.counts()
    assert counts["messages"] == 2
    assert counts["chunks"] == counts["fts"] == counts["vectors"] == 2
    hits = await backend.conversations.search_conversations("Lisbon trip", k=5)
    assert all(h.conversation_id == other for h in hits)


async def test_a_question_is_answered_from_the_right_past_chat_with_a_citation(
    locations: Locations,
) -> None:
    def respond(messages: list[ChatMessage]) -> str:
        last = messages[-1].content
        return "In May, by train [S1]." if "<source" in last else "Echo: " + last[:40]

    rt = FakeRuntime(responder=respond)
    b = await Backend.open(
        locations=locations, settings=Settings(default_model="fake-model"), runtimes=[rt]
    )
    try:
        trip = await _chat(b, "Our Lisbon trip: we go in May and take the train.")
        await _chat(b, "My favourite pasta is carbonara.")
        _indexed(b)
        stream = await b.chat.send(None, "What did we decide about the Lisbon trip?")
        events = await stream.collect()
        (retrieved,) = [e for e in events if isinstance(e, SourcesRetrieved)]
        first = retrieved.sources[0]
        assert first.kind == "conversation" and first.conversation_id == trip
        assert first.path == (await b.conversations.get_conversation(trip)).title
        assert first.date and first.conversation_message_id is not None
        prompt = rt.requests[-1].messages[-1].content
        assert '<source id="S1" conversation="Our Lisbon trip' in prompt
        assert prompt.rstrip().endswith("Question: What did we decide about the Lisbon trip?")
        (parsed,) = [e for e in events if isinstance(e, CitationsParsed)]
        assert parsed.cited == (1,)
        stored = await b.documents.message_sources(parsed.message_id)
        assert stored[0].kind == "conversation" and stored[0].cited
        assert stored[0].conversation_message_id == first.conversation_message_id
        # @chats forces it, and is not sent to the model
        stream = await b.chat.send(stream.conversation_id, "@chats carbonara")
        await stream.collect()
        assert "@chats" not in rt.requests[-1].messages[-1].content
        assert "carbonara" in rt.requests[-1].messages[-1].content.split("Question:")[0]
    finally:
        await b.close()


async def test_an_incognito_chat_is_never_a_source_and_does_not_read_past_chats(
    backend: Backend,
) -> None:
    secret = await _chat(backend, "The surprise party for Ana is on Friday at the boathouse.")
    _indexed(backend)
    await backend.memory.set_incognito(secret, True)  # switched after it was indexed
    hidden = await backend.conversations.create_conversation()
    await backend.memory.set_incognito(hidden.id, True)
    stream = await backend.chat.send(hidden.id, "Incognito note: the key is under the mat.")
    await stream.collect()
    _indexed(backend)
    hits = await backend.conversations.search_conversations("surprise party boathouse", k=5)
    assert all(h.conversation_id != secret for h in hits)
    hits = await backend.conversations.search_conversations("key under the mat", k=5)
    assert all(h.conversation_id != hidden.id for h in hits)
    # and an incognito chat does not consult past chats
    stream = await backend.chat.send(hidden.id, "@chats what did we say about the party?")
    events = await stream.collect()
    assert not [e for e in events if isinstance(e, SourcesRetrieved)]
