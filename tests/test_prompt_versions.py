"""Prompt versions, request inputs, retention and replay, on the fake runtime
(the real-model round trip is in tests/test_cli_replay.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from backend.chat.prompt_catalog import builtin_prompts
from backend.common.config import GenerationSettings, LogSettings, Settings, ToolsSettings
from backend.common.errors import ModelError, NotFoundError
from backend.common.events import MessageSaved, TextDelta
from backend.common.locations import Locations
from backend.knowledge.embedder import Embedder
from backend.local.backend import Backend
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import ChatMessage, GenerationParams
from backend.runtimes.fake import FakeRuntime
from backend.store.db import Database
from backend.store.migrations import migrate
from backend.store.prompt_versions import PromptVersions, text_sha256
from backend.store.requests import RequestLog


async def ask(backend: Backend, text: str, conversation_id: int | None = None) -> MessageSaved:
    stream = await backend.chat.send(conversation_id, text)
    saved = [e async for e in stream if isinstance(e, MessageSaved)]
    return saved[-1]


def test_same_text_under_same_name_is_stored_once(tmp_path: Path) -> None:
    db = Database(tmp_path / "a.db")
    migrate(db)
    log = RequestLog(db)
    for _ in range(3):
        log.record(
            runtime="fake",
            model="m",
            usage=None,
            stop_reason="stop",
            prompts=[("chat.system", "Be brief."), ("rag.instructions", "Cite.")],
        )
    log.record(runtime="fake", model="m", usage=None, stop_reason="stop",
               prompts=[("chat.system", "Be very brief.")])  # fmt: skip
    versions = {(v.name, v.sha256): v for v in log.prompts.listing()}
    assert len(versions) == 3
    assert versions[("chat.system", text_sha256("Be brief."))].requests == 3
    assert versions[("chat.system", text_sha256("Be very brief."))].requests == 1
    assert PromptVersions(db).register([("rag.instructions", "Cite.")]) == {
        "rag.instructions": text_sha256("Cite.")
    }
    assert len(log.prompts.listing()) == 3  # registering again adds nothing
    db.close()


async def test_a_reply_is_logged_with_its_versions_inputs_and_output(backend: Backend) -> None:
    conv = await backend.conversations.create_conversation(preset="Concise")
    saved = await ask(backend, "hello there", conv.id)
    assert saved.request_id is not None
    d = await backend.telemetry.request_detail(saved.request_id)
    (preset,) = [p for p in await backend.conversations.presets() if p.name == "Concise"]
    assert [p.name for p in d.prompts] == ["preset:Concise"]
    assert d.prompts[0].sha256 == text_sha256(preset.system_prompt)
    assert d.model_name == "fake-model" and d.params["temperature"] == 0.7
    assert d.messages is not None
    assert [(m.role, m.content) for m in d.messages] == [
        ("system", preset.system_prompt),
        ("user", "hello there"),
    ]
    assert d.output == saved.content == "Echo: hello there"

    # an edited system prompt is no longer the preset's: a chat.system version
    await backend.conversations.set_system_prompt(conv.id, "Answer like a pirate.")
    second = await ask(backend, "and again", conv.id)
    assert second.request_id is not None
    d2 = await backend.telemetry.request_detail(second.request_id)
    pirate = text_sha256("Answer like a pirate.")
    assert [p.label for p in d2.prompts] == [f"chat.system@{pirate[:12]}"]

    await backend.conversations.rate(saved.message_id, 1)
    versions = {v.name: v for v in await backend.telemetry.prompt_versions()}
    assert versions["preset:Concise"].requests == 1
    assert versions["preset:Concise"].thumbs_up == 1
    assert versions["preset:Concise"].completion_tokens_avg == 3
    assert versions["chat.system"].thumbs_up == 0


async def test_eval_runs_are_listed_with_the_builtin_versions_they_used(backend: Backend) -> None:
    stores = backend.core.stores
    current = stores.requests.prompts.register(builtin_prompts().items())
    run = stores.evals.save_run("retrieval", n=1, metrics={}, settings={"prompts": current})
    versions = {v.name: v for v in await backend.telemetry.prompt_versions()}
    assert versions["rag.instructions"].eval_runs == (run.id,)
    assert versions["rag.instructions"].requests == 0


async def test_purge_clears_texts_and_keeps_figures(backend: Backend) -> None:
    first = await ask(backend, "one")
    second = await ask(backend, "two")
    assert first.request_id and second.request_id
    with backend.core.stores.db.transaction() as c:
        c.execute(
            "UPDATE request_inputs SET created_at = '2020-01-01T00:00:00.000+00:00'"
            " WHERE request_id = ?",
            (first.request_id,),
        )
    assert await backend.telemetry.purge_request_texts("2021-01-01") == 1
    old = await backend.telemetry.request_detail(first.request_id)
    assert old.messages is None and old.output is None
    assert old.model_name == "fake-model" and old.request.completion_tokens == 2
    with pytest.raises(ValueError, match="purged"):
        await backend.telemetry.replay(first.request_id)
    assert (await backend.telemetry.request_detail(second.request_id)).output == "Echo: two"
    with pytest.raises(ValueError, match="not a date"):
        await backend.telemetry.purge_request_texts("last tuesday")
    assert await backend.telemetry.purge_request_texts(None) == 1


async def test_retention_applies_when_the_backend_starts(locations: Locations) -> None:
    settings = Settings(default_model="fake-model", log=LogSettings(retention_days=30))
    b = await Backend.open(locations=locations, settings=settings, runtimes=[FakeRuntime()])
    saved = await ask(b, "keep me?")
    with b.core.stores.db.transaction() as c:
        c.execute("UPDATE request_inputs SET created_at = '2000-01-01T00:00:00.000+00:00'")
    recent = await ask(b, "keep me!")
    await b.close()
    b = await Backend.open(locations=locations, settings=settings, runtimes=[FakeRuntime()])
    try:
        assert saved.request_id and recent.request_id
        assert (await b.telemetry.request_detail(saved.request_id)).messages is None
        assert (await b.telemetry.request_detail(recent.request_id)).messages is not None
    finally:
        await b.close()


async def test_keep_full_text_off_logs_no_words(locations: Locations) -> None:
    settings = Settings(default_model="fake-model", log=LogSettings(keep_full_text=False))
    b = await Backend.open(locations=locations, settings=settings, runtimes=[FakeRuntime()])
    try:
        saved = await ask(b, "a secret")
        assert saved.request_id is not None
        d = await b.telemetry.request_detail(saved.request_id)
        assert d.messages is None and d.output is None and d.params["max_tokens"] == 512
        with pytest.raises(ValueError, match="not kept"):
            await b.telemetry.replay(saved.request_id)
    finally:
        await b.close()


class FileRuntime(FakeRuntime):
    """The fake runtime serving a model backed by a file, to see replay
    notice a changed or missing model file."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def list_models(self) -> list[ModelInfo]:
        return [replace(m, path=self.path) for m in super().list_models()]


@pytest.fixture
async def file_backend(locations: Locations, tmp_path: Path) -> AsyncIterator[Backend]:
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights v1")
    b = await Backend.open(
        locations=locations,
        settings=Settings(default_model="fake-model"),
        runtimes=[FileRuntime(model)],
    )
    yield b
    await b.close()


async def test_replay_reproduces_and_reports_a_changed_model_file(
    file_backend: Backend, tmp_path: Path
) -> None:
    saved = await ask(file_backend, "same words")
    assert saved.request_id is not None
    d = await file_backend.telemetry.request_detail(saved.request_id)
    assert d.model_sha256 == text_sha256("weights v1")

    r = await file_backend.telemetry.replay(saved.request_id)
    assert r.identical and r.diff == "" and not r.model_changed
    assert r.replayed == "Echo: same words"
    assert r.sampling == "sampled" and any("without a seed" in n for n in r.notes)
    replay_row = await file_backend.telemetry.request(r.replay_request_id)
    assert replay_row is not None and replay_row.stage == "replay"
    assert replay_row.parent_request_id == saved.request_id

    (tmp_path / "model.bin").write_bytes(b"weights v2, retrained")
    r2 = await file_backend.telemetry.replay(saved.request_id)
    assert r2.model_changed and r2.model_sha256_then == text_sha256("weights v1")
    assert any("model file has changed" in n for n in r2.notes)

    (tmp_path / "model.bin").unlink()
    with pytest.raises(ModelError, match=r"model file .* is missing"):
        await file_backend.telemetry.replay(saved.request_id)


async def test_replay_shows_a_diff_when_the_reply_differs(backend: Backend) -> None:
    saved = await ask(backend, "alpha beta")
    assert saved.request_id is not None
    runtime = backend.core.runtimes[0]
    assert isinstance(runtime, FakeRuntime)
    runtime.responder = lambda messages: "something else"
    r = await backend.telemetry.replay(saved.request_id)
    assert not r.identical
    assert "-Echo: alpha beta" in r.diff and "+something else" in r.diff


async def test_an_api_completion_is_logged_and_replayable(backend: Backend) -> None:
    """Requests through the OpenAI/Ollama APIs keep their inputs too."""
    messages = [ChatMessage("system", "Be terse."), ChatMessage("user", "api words")]
    stream = await backend.completions.complete_messages(
        messages, params=GenerationParams(temperature=0.0, max_tokens=20)
    )
    text = "".join([e.text async for e in stream if isinstance(e, TextDelta)])
    (row,) = await backend.telemetry.request_log()
    d = await backend.telemetry.request_detail(row.id)
    assert d.messages is not None and [m.content for m in d.messages] == ["Be terse.", "api words"]
    assert d.output == text and d.greedy
    r = await backend.telemetry.replay(row.id)
    assert r.identical and r.sampling == "greedy"


async def test_tool_and_document_turns_link_their_prompts(
    locations: Locations, tmp_path: Path, minilm: Embedder
) -> None:
    calc = '{"tool": "calculator", "arguments": {"expression": "6*7"}}'
    b = await Backend.open(
        locations=locations,
        settings=Settings(default_model="fake-model"),
        runtimes=[FakeRuntime(decider=lambda request: calc)],
        embedder=minilm,
    )
    try:
        tools = await ask(b, "what is 6*7")
        assert tools.request_id is not None
        d = await b.telemetry.request_detail(tools.request_id)
        assert {p.name for p in d.prompts} == {"preset:Assistant", "tools.results"}
        assert d.messages is not None and "<tool_result" in d.messages[-1].content
        rows = [r for r in await b.telemetry.request_log() if r.stage == "tool_decision"]
        decision = await b.telemetry.request_detail(rows[0].id)
        assert [p.name for p in decision.prompts] == ["tools.decision"]
        # the hidden call keeps what it was sent and said, and replays
        assert decision.messages is not None and decision.output == calc
        assert "what is 6*7" in decision.messages[-1].content
        assert decision.params.get("json_schema")  # the grammar it decoded under
        again = await b.telemetry.replay(rows[0].id)
        assert again.identical and again.replayed == calc

        (tmp_path / "docs").mkdir()
        (tmp_path / "docs" / "cats.md").write_text("# Cats\n\nCats sleep sixteen hours a day.\n")
        await b.documents.add_folder(str(tmp_path / "docs"))
        await b.documents.index()
        conv = await b.conversations.create_conversation()
        await b.conversations.set_system_prompt(conv.id, "")
        stream = await b.chat.send(conv.id, "How long do cats sleep?", tools=False)
        grounded = [e async for e in stream if isinstance(e, MessageSaved)][-1]
        assert grounded.request_id is not None
        g = await b.telemetry.request_detail(grounded.request_id)
        assert [p.name for p in g.prompts] == ["rag.instructions", "rag.source_framing"]
        assert g.prompts[0].sha256 == text_sha256(builtin_prompts()["rag.instructions"])
        assert g.messages is not None and '<source id="S1"' in g.messages[-1].content
    finally:
        await b.close()


@pytest.mark.real_model
async def test_hidden_rag_calls_are_logged_and_replay_identically(
    locations: Locations, tmp_path: Path, minilm: Embedder
) -> None:
    """Condense and rewrite are model calls the user never sees; on the
    bundled model their inputs and outputs are logged and replay as they ran."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "tea.md").write_text("# Tea\n\nGreen tea steeps for two minutes at 80 degrees.\n")
    (folder / "bread.md").write_text("# Bread\n\nSourdough rises for twelve hours.\n")
    settings = Settings(
        generation=GenerationSettings(temperature=0, max_tokens=24),
        tools=ToolsSettings(enabled=False),
    )
    settings.rag.rewrite = "always"
    b = await Backend.open(locations=locations, settings=settings, embedder=minilm)
    try:
        await b.documents.add_folder(str(folder))
        await b.documents.index()
        first = await ask(b, "How long does green tea steep?")
        conv = (await b.conversations.list_conversations())[0]
        await ask(b, "and at what temperature?", conv.id)
        hidden = [r for r in await b.telemetry.request_log() if r.stage in ("rewrite", "condense")]
        assert {r.stage for r in hidden} == {"rewrite", "condense"}, [r.stage for r in hidden]
        for row in hidden:
            d = await b.telemetry.request_detail(row.id)
            assert d.messages and d.output is not None and d.greedy
            assert d.request.parent_request_id is not None and first.request_id is not None
            r = await b.telemetry.replay(row.id)
            assert r.identical, (row.stage, r.diff)
    finally:
        await b.close()


async def test_unknown_request_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFoundError):
        await backend.telemetry.request_detail(999)
    with pytest.raises(NotFoundError):
        await backend.telemetry.replay(999)


@pytest.mark.real_model
async def test_greedy_replies_replay_identically_in_a_warm_backend(locations: Locations) -> None:
    """The TUI's case: the replay runs right after the chat, in the same
    llama.cpp worker, whose KV cache holds the whole conversation (before
    the replay cleared it, the first reply came back different)."""
    settings = Settings(
        generation=GenerationSettings(temperature=0, max_tokens=48),
        tools=ToolsSettings(enabled=False),
    )
    b = await Backend.open(locations=locations, settings=settings)
    try:
        first = await ask(b, "Name three colours of the rainbow.")
        conv = (await b.conversations.list_conversations())[0]
        second = await ask(b, "And two more?", conv.id)
        assert first.request_id and second.request_id
        for saved in (first, second):
            r = await b.telemetry.replay(saved.request_id)
            assert r.sampling == "greedy" and r.identical, r.diff
            assert r.replayed == saved.content
        assert any("cached prompt tokens" in n for n in r.notes)
    finally:
        await b.close()
