"""Answers from documents through the facade: real MiniLM, real sqlite-vec
and FTS5 index, real files; the FakeRuntime writes the reply so what the
model was given and what it cited can be checked exactly."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend import Backend
from backend.common.config import Settings
from backend.common.events import (
    CitationsParsed,
    MessageSaved,
    SourcesRetrieved,
    TextDelta,
)
from backend.common.locations import Locations
from backend.knowledge.embedder import Embedder
from backend.rag.context import SYSTEM_RULES
from backend.runtimes.base import ChatMessage
from backend.runtimes.fake import FakeRuntime

DOCS = {
    "pets/cats.md": "# Cats\n\n## Sleep\n\nCats sleep between twelve and sixteen hours a day, "
    "mostly in short naps.\n\n## Food\n\nCats are obligate carnivores and need taurine.\n",
    "pets/dogs.md": "# Dogs\n\nDogs were domesticated from wolves. They need daily walks "
    "and enjoy fetching sticks.\n",
    "money/tax.md": "# Taxes\n\nThe income tax return is due on the thirtieth of April. "
    "Late filing costs a penalty of five percent per month.\n",
}


def cite_the_source_about(word: str):  # type: ignore[no-untyped-def]
    """A scripted model: cites the source whose passage mentions ``word``."""

    def respond(messages: list[ChatMessage]) -> str:
        last = messages[-1].content
        found = re.findall(r'id="S(\d+)"[^>]*>(.*?)</source>', last, re.S)
        for n, text in found:
            if word in text.lower():
                return f"They sleep twelve to sixteen hours [S{n}] and more [S9]."
        return "I do not know."

    return respond


@pytest.fixture
async def setup(
    tmp_path: Path, locations: Locations, minilm: Embedder
) -> AsyncIterator[tuple[Backend, FakeRuntime, Path]]:
    root = tmp_path / "docs"
    for rel, text in DOCS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    runtime = FakeRuntime(responder=cite_the_source_about("sleep"))
    backend = await Backend.open(
        locations=locations,
        settings=Settings(default_model="fake-model"),
        runtimes=[runtime],
        embedder=minilm,
    )
    yield backend, runtime, root
    await backend.close()


async def index(backend: Backend, *folders: Path) -> list[int]:
    ids = [(await backend.documents.add_folder(str(f))).id for f in folders]
    await backend.documents.index()
    return ids


async def test_reply_is_grounded_and_cites(setup: tuple[Backend, FakeRuntime, Path]) -> None:
    backend, runtime, root = setup
    await index(backend, root)
    conv = await backend.conversations.create_conversation()
    assert await backend.documents.documents_enabled(conv.id)  # auto: documents are indexed

    events = await (await backend.chat.send(conv.id, "How long do cats sleep?")).collect()
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("SourcesRetrieved") < kinds.index("TextDelta")
    assert kinds.index("CitationsParsed") < kinds.index("MessageSaved")
    retrieved = next(e for e in events if isinstance(e, SourcesRetrieved))
    assert [s.n for s in retrieved.sources] == list(range(1, len(retrieved.sources) + 1))
    cat = next(s for s in retrieved.sources if "sleep" in s.text.lower())
    assert cat.path.endswith("cats.md") and "Sleep" in cat.heading
    assert "retrieve" in retrieved.stage_ms

    cited = next(e for e in events if isinstance(e, CitationsParsed))
    assert cited.cited == (cat.n,) and cited.unknown == (9,)

    # What the model saw: rules in the system prompt, sources with the question.
    request = runtime.requests[-1]
    assert request.messages[0].role == "system" and SYSTEM_RULES in request.messages[0].content
    assert 'id="S1"' in request.messages[-1].content
    assert "How long do cats sleep?" in request.messages[-1].content
    # ...but the conversation stores the plain question.
    thread = await backend.conversations.thread(conv.id)
    assert thread[0].content == "How long do cats sleep?"

    saved = next(e for e in events if isinstance(e, MessageSaved))
    stored = await backend.documents.message_sources(saved.message_id)
    assert [s.n for s in stored] == [s.n for s in retrieved.sources]
    assert [s.n for s in stored if s.cited] == [cat.n]

    rows = await backend.telemetry.request_log(conversation_id=conv.id)
    generate = next(r for r in rows if r.stage == "generate")
    retrieve = next(r for r in rows if r.stage == "retrieve")
    assert retrieve.parent_request_id == generate.id
    assert retrieve.total_ms is not None and retrieve.total_ms > 0
    assert json.loads(retrieve.detail or "{}")["cited"] == 1


async def test_earlier_turns_stay_plain(setup: tuple[Backend, FakeRuntime, Path]) -> None:
    """Sources go with the current turn only: the system prompt and earlier
    turns are byte-identical next turn, so the KV cache is reused."""
    backend, runtime, root = setup
    await index(backend, root)
    conv = await backend.conversations.create_conversation()
    await (await backend.chat.send(conv.id, "How long do cats sleep?")).collect()
    first = runtime.requests[-1].messages
    await (await backend.chat.send(conv.id, "When is the tax return due?")).collect()
    second = runtime.requests[-1].messages
    assert second[0] == first[0]
    assert second[1] == ChatMessage("user", "How long do cats sleep?")
    assert 'id="S1"' in second[-1].content and "tax" in second[-1].content.lower()


async def test_plain_chat_when_switched_off(setup: tuple[Backend, FakeRuntime, Path]) -> None:
    backend, runtime, root = setup
    await index(backend, root)
    conv = await backend.conversations.create_conversation()
    conv = await backend.documents.set_conversation_documents(conv.id, False)
    assert conv.use_documents is False
    assert not await backend.documents.documents_enabled(conv.id)
    events = await (await backend.chat.send(conv.id, "How long do cats sleep?")).collect()
    assert not any(isinstance(e, SourcesRetrieved | CitationsParsed) for e in events)
    assert runtime.requests[-1].messages[-1].content == "How long do cats sleep?"
    # the choice is stored with the conversation
    assert (await backend.conversations.get_conversation(conv.id)).use_documents is False


async def test_auto_is_off_until_something_is_indexed(
    setup: tuple[Backend, FakeRuntime, Path],
) -> None:
    backend, _, root = setup
    conv = await backend.conversations.create_conversation()
    assert not await backend.documents.documents_enabled(conv.id)
    await index(backend, root)
    assert await backend.documents.documents_enabled(conv.id)


async def test_folder_scope_per_question_and_per_conversation(
    setup: tuple[Backend, FakeRuntime, Path],
) -> None:
    backend, _, root = setup
    pets, money = await index(backend, root / "pets", root / "money")
    conv = await backend.conversations.create_conversation()
    events = await (await backend.chat.send(conv.id, "tax penalty", folder_ids=[pets])).collect()
    sources = next(e for e in events if isinstance(e, SourcesRetrieved)).sources
    assert sources and all("/pets/" in s.path for s in sources)

    await backend.documents.set_conversation_documents(conv.id, True, [money])
    # nothing in the money folder is close to cats, so the router would
    # answer without it: @docs makes it search (within the chat's scope)
    events = await (await backend.chat.send(conv.id, "@docs How long do cats sleep?")).collect()
    sources = next(e for e in events if isinstance(e, SourcesRetrieved)).sources
    assert sources and all("/money/" in s.path for s in sources)
    with pytest.raises(Exception, match="no folder"):
        await backend.documents.set_conversation_documents(conv.id, True, [9999])


async def test_source_view_opens_the_passage(setup: tuple[Backend, FakeRuntime, Path]) -> None:
    backend, _, root = setup
    await index(backend, root)
    conv = await backend.conversations.create_conversation()
    events = await (await backend.chat.send(conv.id, "How long do cats sleep?")).collect()
    saved = next(e for e in events if isinstance(e, MessageSaved))
    cited = next(e for e in events if isinstance(e, CitationsParsed)).cited[0]
    view = await backend.documents.source_view(saved.message_id, cited)
    assert view.exists and "twelve and sixteen hours" in view.text[view.start : view.end]
    raw = (root / "pets/cats.md").read_text().splitlines()
    assert view.line is not None and "sixteen hours" in "\n".join(
        raw[view.line - 1 : view.line + 2]
    )

    (root / "pets/cats.md").unlink()  # the copy kept with the reply still shows
    gone = await backend.documents.source_view(saved.message_id, cited)
    assert not gone.exists and "sixteen hours" in gone.text
    with pytest.raises(Exception, match="no source S42"):
        await backend.documents.source_view(saved.message_id, 42)


async def test_retrieval_failure_still_answers(
    setup: tuple[Backend, FakeRuntime, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, _, root = setup
    await index(backend, root)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("index is on fire")

    monkeypatch.setattr(backend.documents.pipeline, "retrieve", broken)
    conv = await backend.conversations.create_conversation()
    events = await (await backend.chat.send(conv.id, "How long do cats sleep?")).collect()
    assert any(isinstance(e, TextDelta) for e in events)
    saved = next(e for e in events if isinstance(e, MessageSaved))
    assert saved.stop_reason == "stop"
    rows = await backend.telemetry.request_log(conversation_id=conv.id)
    failed = next(r for r in rows if r.stage == "retrieve")
    assert failed.error and "index is on fire" in failed.error


async def test_retrieve_modes(setup: tuple[Backend, FakeRuntime, Path]) -> None:
    backend, _, root = setup
    await index(backend, root)
    for mode in ("keyword", "dense", "hybrid", "hybrid+rerank", "default"):
        result = await backend.documents.retrieve(
            "when is the income tax return due", mode=mode, k=3
        )
        assert result.hits and result.hits[0].path.endswith("tax.md"), mode
    with pytest.raises(ValueError, match="unknown retrieval mode"):
        await backend.documents.retrieve("cats", mode="psychic")
    with pytest.raises(ValueError, match="empty"):
        await backend.documents.retrieve("   ")


async def test_an_uncited_answer_that_restates_a_source_is_matched(
    setup: tuple[Backend, FakeRuntime, Path],
) -> None:
    backend, runtime, root = setup
    await index(backend, root)
    runtime.responder = lambda messages: (
        "Cats sleep between twelve and sixteen hours a day, mostly in short naps."
    )
    conv = await backend.conversations.create_conversation()
    events = await (await backend.chat.send(conv.id, "How long do cats sleep?")).collect()
    retrieved = next(e for e in events if isinstance(e, SourcesRetrieved))
    cat = next(s for s in retrieved.sources if "sleep" in s.text.lower())
    parsed = next(e for e in events if isinstance(e, CitationsParsed))
    assert parsed.cited == () and parsed.matched == (cat.n,)
    saved = next(e for e in events if isinstance(e, MessageSaved))
    stored = await backend.documents.message_sources(saved.message_id)
    assert [s.n for s in stored if s.matched] == [cat.n]
    assert not any(s.cited for s in stored)
    rows = await backend.telemetry.request_log(conversation_id=conv.id)
    retrieve = next(r for r in rows if r.stage == "retrieve")
    assert json.loads(retrieve.detail or "{}")["cited"] == 0

    # An answer that cites is never "matched", even where it restates others.
    runtime.responder = cite_the_source_about("sleep")
    events = await (await backend.chat.send(conv.id, "How long do cats sleep?")).collect()
    parsed = next(e for e in events if isinstance(e, CitationsParsed))
    assert parsed.cited and parsed.matched == ()
