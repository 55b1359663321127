"""The official ``openai`` client against ``assistant serve`` (fake runtime)."""

from __future__ import annotations

import math

import openai
import pytest

from .conftest import Running


@pytest.fixture
def served(served_module: Running) -> Running:
    """One server for this module's tests: they only read it (see ``served_module``)."""
    return served_module


def client(served: Running, token: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key=token or served.token, max_retries=0)


def test_lists_models(served: Running) -> None:
    ids = [m.id for m in client(served).models.list()]
    assert ids == ["fake-model", "fake-other"]


def test_chat_non_streaming(served: Running) -> None:
    reply = client(served).chat.completions.create(
        model="fake-other",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there"},
        ],
    )
    assert reply.choices[0].message.content == "Echo: hello there"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "fake-other"
    assert reply.usage is not None and reply.usage.completion_tokens == 3
    assert reply.usage.prompt_tokens > 0


def test_chat_streaming_with_usage(served: Running) -> None:
    stream = client(served).chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "one two three"}],
        stream=True,
    )
    text, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    assert "".join(text) == "Echo: one two three"
    assert usage is not None and usage.completion_tokens == 4


def test_max_tokens_cuts_the_reply(served: Running) -> None:
    reply = client(served).chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "a b c d e"}], max_tokens=2
    )
    assert reply.choices[0].message.content == "Echo: a"
    assert reply.choices[0].finish_reason == "length"


def test_unknown_model_is_404(served: Running) -> None:
    with pytest.raises(openai.NotFoundError, match="not available"):
        client(served).chat.completions.create(
            model="nope", messages=[{"role": "user", "content": "hi"}]
        )


def test_wrong_token_is_rejected_by_the_client(served: Running) -> None:
    with pytest.raises(openai.AuthenticationError):
        client(served, token="wrong").models.list()


def test_tools_are_accepted_and_answered(served: Running) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    reply = client(served).chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hi"}], tools=tools
    )
    assert reply.choices[0].message.content == "Echo: hi"
    assert not reply.choices[0].message.tool_calls


def test_api_calls_are_not_stored_as_conversations_but_logged(served: Running) -> None:
    import sqlite3

    client(served).chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "log me"}]
    )
    db = served.server.backend_kwargs["locations"].database
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 0
        rows = con.execute("SELECT model, conversation_id FROM requests").fetchall()
    assert ("fake-model", None) in rows


def test_embeddings_use_the_knowledge_base_embedder(served: Running) -> None:
    result = client(served).embeddings.create(
        model="all-MiniLM-L6-v2", input=["the cat sat", "a cat was sitting", "tax law"]
    )
    vecs = [d.embedding for d in result.data]
    assert len(vecs) == 3 and len(vecs[0]) == 384
    assert math.isclose(sum(x * x for x in vecs[0]), 1.0, rel_tol=1e-3)

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cos(vecs[0], vecs[1]) > cos(vecs[0], vecs[2])
