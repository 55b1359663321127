"""The official ``ollama`` client against ``assistant serve`` (fake runtime)."""

from __future__ import annotations

import ollama
import pytest

from .conftest import Running


@pytest.fixture
def served(served_module: Running) -> Running:
    """One server for this module's tests: they only read it (see ``served_module``)."""
    return served_module


def client(served: Running, token: str | None = None) -> ollama.Client:
    return ollama.Client(
        host=served.url, headers={"Authorization": f"Bearer {token or served.token}"}
    )


def test_lists_models(served: Running) -> None:
    names = [m.model for m in client(served).list().models]
    assert names == ["fake-model", "fake-other"]


def test_chat_non_streaming(served: Running) -> None:
    reply = client(served).chat(
        model="fake-other", messages=[{"role": "user", "content": "hello you"}], stream=False
    )
    assert reply.message.content == "Echo: hello you"
    assert reply.done and reply.eval_count == 3
    assert reply.prompt_eval_count and reply.prompt_eval_count > 0


def test_chat_streams_ndjson_by_default(served: Running) -> None:
    parts = list(
        client(served).chat(
            model="fake-model", messages=[{"role": "user", "content": "a b c"}], stream=True
        )
    )
    assert len(parts) == 5  # four words, then the final object
    assert "".join(p.message.content or "" for p in parts) == "Echo: a b c"
    assert parts[-1].done and not any(p.done for p in parts[:-1])


def test_generate_with_options(served: Running) -> None:
    reply = client(served).generate(
        model="fake-model", prompt="x y z w", options={"num_predict": 2}
    )
    assert reply.response == "Echo: x"
    assert reply.done_reason == "length"


def test_embed(served: Running) -> None:
    result = client(served).embed(model="all-MiniLM-L6-v2", input=["one", "two"])
    assert len(result.embeddings) == 2 and len(result.embeddings[0]) == 384


def test_unknown_model_and_wrong_token(served: Running) -> None:
    with pytest.raises(ollama.ResponseError) as err:
        client(served).chat(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as err:
        client(served, token="wrong").list()
    assert err.value.status_code == 401


def test_version_needs_the_token_too(served: Running) -> None:
    import httpx

    assert httpx.get(served.url + "/api/version").status_code == 401
    ok = httpx.get(served.url + "/api/version", headers=served.headers())
    assert ok.status_code == 200 and ok.json()["version"]
