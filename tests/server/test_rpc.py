"""The backend facade over HTTP (``backend.server.rpc``) and its client
(``backend.remote.RemoteBackend``), against a real uvicorn server on
loopback with the fake runtime; and the TUI running on it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from backend.api.contract import AssistantAPI
from backend.api.errors import decode_error, encode_error
from backend.api.wire import WireError, for_contract
from backend.common.config import GenerationSettings, Settings
from backend.common.errors import AssistantError, NotFoundError
from backend.common.events import (
    Done,
    MessageSaved,
    MessageStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallProposed,
)
from backend.common.locations import Locations
from backend.knowledge.records import IndexProgress
from backend.remote import RemoteBackend
from backend.remote.stream import RemoteStream
from backend.runtimes.fake import FakeRuntime

from .conftest import Running, start_server

# -- the codec ------------------------------------------------------------------

CODEC = for_contract(AssistantAPI)
REGISTRY = CODEC.registry
encode, decode = CODEC.encode, CODEC.decode


def _sample(cls: type, depth: int = 0) -> Any:
    """An instance of a registered record with every init field set to a
    non-default value of its type (nested records built the same way)."""
    import typing

    hints = typing.get_type_hints(cls)
    kwargs = {}
    for i, f in enumerate(dataclasses.fields(cls)):
        if f.init:
            kwargs[f.name] = _value(hints[f.name], i, depth)
    return cls(**kwargs)


def _value(hint: Any, i: int, depth: int) -> Any:
    import types
    import typing

    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _value(next(a for a in args if a is not type(None)), i, depth)
    if origin is typing.Literal:
        return args[-1]
    if hint is str:
        return f"s{i}"
    if hint is bool:
        return True
    if hint is int:
        return 7 + i
    if hint is float:
        return 1.5 + i
    if hint is Path:
        return Path(f"/tmp/p{i}")
    if origin is list:
        return [_value(args[0], i, depth), _value(args[0], i + 1, depth)]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return (_value(args[0], i, depth),)
        return tuple(_value(a, i, depth) for a in args)
    if origin is dict:
        return {"k": [1, {"n": 2.5}], "t": None}
    if hint is typing.Any:
        return {"any": [1, "x"]}
    if isinstance(hint, type) and hint in REGISTRY.values() and depth < 3:
        return _sample(hint, depth + 1)
    raise AssertionError(f"no sample for {hint!r}")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_codec_round_trips_every_registered_record(name: str) -> None:
    import json

    record = _sample(REGISTRY[name])
    data = json.loads(json.dumps(encode(record)))
    assert data["__type__"] == name
    back = decode(data)
    assert type(back) is type(record)
    assert back == record


def test_codec_tags_tuples_paths_sets_datetimes_and_odd_dicts() -> None:
    value = {
        "t": (1, "a"),
        "p": Path("/x/y"),
        "s": {3},
        "when": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        "ints": {1: "one"},
        "spoof": {"__type__": "Conversation"},
    }
    data = encode(value)
    assert data["t"] == {"__type__": "tuple", "items": [1, "a"]}
    assert data["p"] == {"__type__": "Path", "value": "/x/y"}
    assert decode(data) == value  # a dict holding "__type__" stays a dict


@pytest.mark.parametrize(
    "data",
    [
        {"__type__": "os.system", "command": "true"},
        {"__type__": "Backend"},
        {"__type__": "builtins.eval"},
        {"__type__": "Conversation", "id": 1, "nope": 2},
        {"__type__": "Conversation", "id": 1},  # required fields missing
        {"__type__": 3},
        {"__type__": "tuple", "items": "abc"},
        {"outer": [{"__type__": "subprocess.Popen", "args": ["sh"]}]},
    ],
)
def test_codec_refuses_unknown_types_and_shapes(data: Any) -> None:
    with pytest.raises(WireError):
        decode(data)


def test_codec_refuses_to_encode_unregistered_objects() -> None:
    @dataclasses.dataclass
    class Secret:
        key: str

    with pytest.raises(WireError, match="Secret"):
        encode(Secret("x"))
    with pytest.raises(WireError):
        encode(object())


def test_errors_round_trip_as_their_class_and_unknown_ones_as_assistant_error() -> None:
    err = decode_error({"error": encode_error(NotFoundError("no conversation 9"))})
    assert type(err) is NotFoundError and str(err) == "no conversation 9"
    assert type(decode_error({"error": encode_error(ValueError("bad"))})) is ValueError

    class Odd(AssistantError):
        title = "Odd thing"

    odd = decode_error({"error": encode_error(Odd("x"))})
    assert type(odd) is AssistantError and odd.title == "Odd thing"
    forged = decode_error({"error": {"type": "SystemExit", "message": "bye"}})
    assert type(forged) is AssistantError


# -- the remote facade -------------------------------------------------------------


@pytest.fixture
def slow_served(tmp_path: Path) -> Iterator[Running]:
    """A server whose fake model takes 50 ms a word, so a reply can be stopped."""
    kwargs = {
        "locations": Locations(tmp_path / "slow"),
        "settings": Settings(
            default_model="fake-model", generation=GenerationSettings(max_tokens=400)
        ),
        "runtimes": [FakeRuntime(delay_s=0.05, reply_words=300)],
    }
    yield from start_server(kwargs)


@pytest.fixture
async def remote(served: Running) -> AsyncIterator[RemoteBackend]:
    backend = await RemoteBackend.open(served.url, served.token)
    yield backend
    await backend.close()


async def test_conversations_and_settings_over_http(remote: RemoteBackend) -> None:
    assert remote.settings.default_model == "fake-model"
    assert remote.unavailable == []
    conv = await remote.conversations.create_conversation("Plans", model="fake-other")
    renamed = await remote.conversations.rename_conversation(conv.id, "Holiday plans")
    listed = await remote.conversations.list_conversations()
    assert [c.id for c in listed] == [conv.id]
    assert listed[0].title == "Holiday plans" == renamed.title
    assert listed[0].model == "fake-other"
    await remote.conversations.set_state("k", "v")
    assert await remote.conversations.get_state("k") == "v"
    assert await remote.conversations.get_state("missing", "dflt") == "dflt"
    assert [m.name for m in await remote.models.list_models()] == ["fake-model", "fake-other"]


async def test_send_streams_the_reply_and_stores_it(remote: RemoteBackend) -> None:
    stream = await remote.chat.send(None, "hello over the wire")
    assert isinstance(stream, RemoteStream)
    events = await stream.collect()
    started = next(e for e in events if isinstance(e, MessageStarted))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text.strip() == "Echo: hello over the wire"
    assert isinstance(events[-1], MessageSaved) and events[-1].content == text
    assert stream.conversation_id == started.conversation_id
    thread = await remote.conversations.thread(started.conversation_id)
    assert [(m.role, m.content) for m in thread] == [
        ("user", "hello over the wire"),
        ("assistant", text),
    ]
    again = await (await remote.chat.regenerate(thread[-1].id)).collect()
    assert isinstance(again[-1], MessageSaved)
    assert (await remote.conversations.switch_branch(again[-1].message_id, -1))[-1].id == thread[
        -1
    ].id


async def test_cancel_stops_a_reply_in_flight(slow_served: Running) -> None:
    remote = await RemoteBackend.open(slow_served.url, slow_served.token)
    try:
        stream = await remote.chat.send(None, "tell me a long story")
        seen: list[Any] = []
        async for event in stream:
            seen.append(event)
            if sum(isinstance(e, TextDelta) for e in seen) == 3:
                remote.chat.cancel(stream.conversation_id)
        done = next(e for e in seen if isinstance(e, Done))
        saved = seen[-1]
        assert done.stop_reason == "cancelled"
        assert isinstance(saved, MessageSaved) and saved.stop_reason == "cancelled"
        assert sum(isinstance(e, TextDelta) for e in seen) < 100  # not all 300 words
    finally:
        await remote.close()


async def test_closing_the_http_stream_cancels_the_reply(slow_served: Running) -> None:
    remote = await RemoteBackend.open(slow_served.url, slow_served.token)
    try:
        stream = await remote.chat.send(None, "another long story")
        async for event in stream:
            if isinstance(event, TextDelta):
                break  # leaves the loop: the HTTP stream is closed
        conv_id = stream.conversation_id
        for _ in range(100):  # the server stores the partial reply once it stops
            thread = await remote.conversations.thread(conv_id)
            if thread[-1].role == "assistant" and thread[-1].status != "streaming":
                break
            await asyncio.sleep(0.05)
        assert thread[-1].role == "assistant"
        assert thread[-1].status == "cancelled"
        assert len(thread[-1].content.split()) < 100
    finally:
        await remote.close()


async def test_errors_are_raised_as_the_backends_classes(remote: RemoteBackend) -> None:
    with pytest.raises(NotFoundError):
        await remote.conversations.get_conversation(424242)
    with pytest.raises(ValueError, match="empty"):
        await remote.chat.send(None, "   ")
    with pytest.raises(ValueError, match="conversation_id"):
        path = "/backend/call/conversations/get_conversation"
        await remote.transport.call(path, {"conversation_id": "not a number"})
    assert await remote.conversations.list_conversations() == []  # the failed send stored nothing


async def test_folders_index_and_search_over_http(remote: RemoteBackend, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "otters.md").write_text("# Otters\n\nSea otters hold hands while they sleep.\n")
    (docs / "bread.md").write_text("# Bread\n\nSourdough needs a starter and patience.\n")
    folder = await remote.documents.add_folder(str(docs))
    progress: list[IndexProgress] = []
    summary = await remote.documents.index(progress=progress.append)
    assert summary.indexed == 2 and not summary.failed
    assert progress and progress[-1].done == 2
    [status] = await remote.documents.folders()
    assert status.folder.id == folder.id and status.indexed == 2
    hits = await remote.documents.search_documents("otters sleep", k=2, mode="keyword")
    assert hits and hits[0].path.endswith("otters.md")
    in_use = await remote.documents.reranker_in_use()  # nothing pulled: auto finds none
    assert (in_use.kind, in_use.setting) == ("none", "auto") and "models pull" in in_use.note
    assert await remote.library.installed_folders() == []
    assert (await remote.documents.remove_folder(folder.id)).path == folder.path


async def test_tool_approval_over_http(tmp_path: Path) -> None:
    """The server's turn waits on the approval; the answer sent over HTTP
    while the stream keeps flowing lets the side-effect tool run."""
    import json

    script = [
        json.dumps({"tool": "save_note", "arguments": {"title": "wire", "text": "hi"}}),
        json.dumps({"tool": "none"}),
    ]
    home = tmp_path / "tools"
    kwargs = {
        "locations": Locations(home),
        "settings": Settings(default_model="fake-model"),
        "runtimes": [FakeRuntime(decider=lambda request: script.pop(0))],
    }
    for running in start_server(kwargs):
        remote = await RemoteBackend.open(running.url, running.token)
        try:
            stream = await remote.chat.send(None, "save a note saying hi", tools=True)
            proposed: list[ToolCallProposed] = []
            finished: list[ToolCallFinished] = []
            saved: list[MessageSaved] = []
            async for event in stream:
                if isinstance(event, ToolCallProposed):
                    proposed.append(event)
                    if event.needs_approval:
                        stream.answer_tool(event.call_id, "once")
                elif isinstance(event, ToolCallFinished):
                    finished.append(event)
                elif isinstance(event, MessageSaved):
                    saved.append(event)
            assert [p.name for p in proposed] == ["save_note"] and proposed[0].needs_approval
            assert finished[0].approved is True and finished[0].error is None
            assert [p.read_text() for p in (home / "notes").iterdir()] != []
            calls = await remote.tools.message_tool_calls(saved[-1].message_id)
            assert [c.name for c in calls] == ["save_note"]
            with pytest.raises(ValueError):
                stream.answer_tool("x", "maybe")
        finally:
            await remote.close()


async def test_request_detail_prompts_and_replay_over_http(remote: RemoteBackend) -> None:
    events = await (await remote.chat.send(None, "log me")).collect()
    saved = events[-1]
    assert isinstance(saved, MessageSaved) and saved.request_id is not None
    detail = await remote.telemetry.request_detail(saved.request_id)
    assert detail.output == saved.content and detail.messages is not None
    assert detail.messages[-1].content == "log me" and detail.prompts
    versions = await remote.telemetry.prompt_versions()
    assert sum(v.requests for v in versions) >= 1
    replayed = await remote.telemetry.replay(saved.request_id)
    assert replayed.identical and replayed.replayed == saved.content
    assert await remote.telemetry.purge_request_texts("2000-01-01") == 0
    assert await remote.telemetry.purge_request_texts() == 2  # the reply and its replay
    with pytest.raises(ValueError, match="purged"):
        await remote.telemetry.replay(saved.request_id)
