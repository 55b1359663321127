"""The bundled SmolLM2 (llama.cpp) served over the API, through both
official clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ollama
import openai
import pytest

from backend.common.config import Settings
from backend.common.locations import Locations

from .conftest import Running, start_server


@pytest.fixture(scope="module")
def served_real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    home: Path = tmp_path_factory.mktemp("real") / "home"
    yield from start_server({"locations": Locations(home), "settings": Settings()})


@pytest.mark.real_model
def test_real_model_chat_and_stream(served_real: Running) -> None:
    c = openai.OpenAI(base_url=served_real.url + "/v1", api_key=served_real.token, max_retries=0)
    models = [m.id for m in c.models.list()]
    assert models, "the bundled model is listed"
    reply = c.chat.completions.create(
        model=models[0],
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=24,
        temperature=0,
        seed=1,
    )
    text = reply.choices[0].message.content or ""
    assert text.strip()
    assert reply.usage is not None and 0 < reply.usage.completion_tokens <= 24
    assert reply.usage.prompt_tokens > 5

    streamed = c.chat.completions.create(
        model=models[0],
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=24,
        temperature=0,
        seed=1,
        stream=True,
    )
    pieces = [ch.choices[0].delta.content or "" for ch in streamed if ch.choices]
    assert len([p for p in pieces if p]) > 1  # really streamed, token by token
    assert "".join(pieces) == text  # greedy: the same answer both ways

    o = ollama.Client(
        host=served_real.url, headers={"Authorization": f"Bearer {served_real.token}"}
    )
    chat = o.chat(
        model=models[0],
        messages=[{"role": "user", "content": "Say hello."}],
        options={"num_predict": 12, "temperature": 0},
        stream=False,
    )
    assert (chat.message.content or "").strip() and chat.eval_count
