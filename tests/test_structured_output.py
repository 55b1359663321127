"""Structured output through the chat turn, on the fake runtime: the
schema reaches the runtime and the prompt, documents and tools stay off,
a reply that breaks the schema is an error (never a silent pass), and a
malformed schema is refused before anything is written. The bundled model
is in ``test_structured_real``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend import Backend
from backend.api import SchemaError
from backend.chat.structured import check_schema, reply_problem
from backend.common.config import Settings
from backend.common.events import ChatEvent, Done, ErrorEvent, MessageSaved
from backend.common.locations import Locations
from backend.runtimes.base import GenerationRequest
from backend.runtimes.fake import FakeRuntime
from tests.cli_helpers import run_cli

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "role": {"enum": ["admin", "user"]},
    },
    "required": ["name", "age"],
}


class Replies:
    """A runtime's constrained replies, scripted; keeps the requests."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.requests: list[GenerationRequest] = []

    def __call__(self, request: GenerationRequest) -> str:
        self.requests.append(request)
        return self.reply


@pytest.fixture
def replies() -> Replies:
    return Replies('{"name": "Ada", "age": 36, "role": "admin"}')


@pytest.fixture
async def sb(locations: Locations, replies: Replies) -> AsyncIterator[Backend]:
    # a runtime that "constrains" output (the decider answers schema requests)
    # and tools on: a plain turn would make a tool decision first
    runtime = FakeRuntime(decider=replies)
    b = await Backend.open(
        locations=locations, settings=Settings(default_model="fake-model"), runtimes=[runtime]
    )
    yield b
    await b.close()


def errors(events: list[ChatEvent]) -> list[ErrorEvent]:
    return [e for e in events if isinstance(e, ErrorEvent)]


def test_check_schema_accepts_a_schema_and_names_what_is_wrong() -> None:
    assert json.loads(check_schema(PERSON)) == PERSON
    with pytest.raises(SchemaError, match="properties/age/type"):
        check_schema({"properties": {"age": {"type": "whole number"}}})
    with pytest.raises(SchemaError, match="JSON object"):
        check_schema(["type", "object"])


def test_reply_problem_says_why() -> None:
    schema = check_schema(PERSON)
    assert reply_problem('{"name": "Ada", "age": 36}', schema) is None
    assert "not valid JSON" in (reply_problem("Sure! Here it is", schema) or "")
    assert "cut off" in (reply_problem('{"name": "Ad', schema, "length") or "")
    problem = reply_problem('{"name": "Ada", "age": -1}', schema) or ""
    assert "$.age" in problem and "minimum" in problem
    problem = reply_problem('{"name": "Ada", "age": 3, "role": "root"}', schema) or ""
    assert "$.role" in problem


async def test_schema_reply_is_constrained_and_validated(sb: Backend, replies: Replies) -> None:
    stream = await sb.chat.send(None, "Describe Ada as JSON", schema=PERSON)
    events = await stream.collect()
    assert not errors(events)
    saved = next(e for e in events if isinstance(e, MessageSaved))
    assert json.loads(saved.content) == {"name": "Ada", "age": 36, "role": "admin"}
    # one model call (no tool decision), the schema given to the runtime and
    # spelled out in the system prompt
    (request,) = replies.requests
    assert json.loads(request.params.json_schema or "") == PERSON
    system = request.messages[0]
    assert system.role == "system" and '"required": ["name", "age"]' in system.content
    thread = await sb.conversations.thread(stream.conversation_id)
    assert thread[-1].status == "complete"


async def test_a_reply_that_breaks_the_schema_is_an_error(sb: Backend, replies: Replies) -> None:
    replies.reply = '{"name": "Ada", "age": "thirty"}'
    stream = await sb.chat.send(None, "Describe Ada as JSON", schema=PERSON)
    events = await stream.collect()
    (error,) = errors(events)
    assert error.title == "Invalid structured output"
    assert "$.age" in error.message and "integer" in error.message
    assert [e.stop_reason for e in events if isinstance(e, Done)] == ["error"]
    saved = next(e for e in events if isinstance(e, MessageSaved))
    assert saved.stop_reason == "error"
    thread = await sb.conversations.thread(stream.conversation_id)
    assert thread[-1].status == "error"  # kept, but never passed off as valid
    log = await sb.telemetry.request_log()
    assert log[0].error and "$.age" in log[0].error


async def test_a_runtime_without_constraints_is_still_validated(locations: Locations) -> None:
    # the plain fake runtime cannot constrain output: it echoes, which is no JSON
    b = await Backend.open(
        locations=locations, settings=Settings(default_model="fake-model"), runtimes=[FakeRuntime()]
    )
    try:
        events = await (await b.chat.send(None, "hello", schema=PERSON)).collect()
    finally:
        await b.close()
    (error,) = errors(events)
    assert error.title == "Invalid structured output" and "not valid JSON" in error.message


async def test_an_invalid_schema_writes_nothing(sb: Backend, replies: Replies) -> None:
    with pytest.raises(SchemaError, match="type"):
        await sb.chat.send(None, "hi", schema={"type": 12})
    assert await sb.conversations.list_conversations() == []
    assert replies.requests == []


async def test_a_plain_turn_after_a_structured_one_is_free_text(
    sb: Backend, replies: Replies
) -> None:
    first = await (await sb.chat.send(None, "JSON please", schema=PERSON)).collect()
    cid = next(e for e in first if isinstance(e, MessageSaved))
    conv = (await sb.conversations.list_conversations())[0].id
    assert cid.content.startswith("{")
    events = await (await sb.chat.send(conv, "now in words", tools=False)).collect()
    saved = next(e for e in events if isinstance(e, MessageSaved))
    assert saved.content == "Echo: now in words"
    assert len(replies.requests) == 1  # the second turn had no schema


def test_cli_schema_file_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = run_cli("ask", "hi", "--schema", str(bad))
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith(f"Invalid schema: {bad} is not valid JSON")
    r = run_cli("ask", "hi", "--schema", str(tmp_path / "missing.json"))
    assert r.returncode == 1 and r.stderr.startswith("Invalid schema: cannot read")
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"type": 12}')
    r = run_cli("ask", "hi", "--schema", str(wrong))
    assert r.returncode == 1 and r.stderr.startswith("Invalid schema: type: 12 is not valid")
    wrong.write_text('{"type": "object"}')
    r = run_cli("ask", "hi", "--schema", str(wrong), "--docs")
    assert r.returncode == 2 and "--schema cannot be combined with --docs" in r.stderr
