"""Client tools and context trimming on the bundled SmolLM2 (llama.cpp,
grammar-constrained decision, the real MiniLM router), through both
official clients."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import ollama
import openai
import pytest

from backend.common.config import LlamaSettings, Settings
from backend.common.locations import Locations

from .conftest import Running, start_server
from .test_tool_calls import CALC

pytestmark = pytest.mark.real_model
WINDOW = 1024


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    home: Path = tmp_path_factory.mktemp("real-tools") / "home"
    settings = Settings(llama=LlamaSettings(n_ctx=WINDOW))
    yield from start_server({"locations": Locations(home), "settings": settings})


def oa(r: Running) -> openai.OpenAI:
    return openai.OpenAI(base_url=r.url + "/v1", api_key=r.token, max_retries=0)


def name(r: Running) -> str:
    return oa(r).models.list().data[0].id


def evaluate(expression: str) -> str:
    """The client's calculator: digits and * only, for the test."""
    assert set(expression) <= set("0123456789*"), expression
    a, b = expression.split("*")
    return f"{expression} = {int(a) * int(b)}"


def test_calculator_call_then_answer_from_its_result(real: Running) -> None:
    c = oa(real)
    ask = [{"role": "user", "content": "what is 1234*5678"}]
    first = c.chat.completions.create(
        model=name(real), messages=ask, tools=[CALC], temperature=0, max_tokens=40
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "calculator"
    arguments = json.loads(call.function.arguments)
    assert arguments == {"expression": "1234*5678"}

    second = c.chat.completions.create(
        model=name(real),
        messages=[
            *ask,
            choice.message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": evaluate(arguments["expression"])},
        ],
        tools=[CALC],
        temperature=0,
        max_tokens=40,
    )
    assert not second.choices[0].message.tool_calls
    assert "7006652" in (second.choices[0].message.content or "").replace(",", "")


def test_ollama_call_and_chat_with_tools(real: Running) -> None:
    o = ollama.Client(host=real.url, headers={"Authorization": f"Bearer {real.token}"})
    opts = {"temperature": 0, "num_predict": 30}
    call = o.chat(
        model=name(real),
        messages=[{"role": "user", "content": "what is 1234*5678"}],
        tools=[CALC],
        options=opts,
        stream=False,
    )
    (tc,) = call.message.tool_calls or []
    assert tc.function.name == "calculator"
    assert dict(tc.function.arguments) == {"expression": "1234*5678"}

    haiku = o.chat(
        model=name(real),
        messages=[{"role": "user", "content": "write a haiku"}],
        tools=[CALC],
        options=opts,
        stream=False,
    )
    assert not haiku.message.tool_calls and (haiku.message.content or "").strip()


def test_long_history_is_trimmed_not_a_502(real: Running) -> None:
    filler = "The quick brown fox jumps over the lazy dog near the river bank. " * 4
    history = []
    for i in range(30):  # ~60 tokens each: ~3,600 tokens, over the 1,024 window
        history += [
            {"role": "user", "content": f"Note {i}: {filler}"},
            {"role": "assistant", "content": f"Noted {i}."},
        ]
    history.append({"role": "user", "content": "Say hello."})
    reply = oa(real).chat.completions.create(
        model=name(real), messages=history, temperature=0, max_tokens=16
    )
    assert (reply.choices[0].message.content or "").strip()
    assert reply.usage is not None and reply.usage.prompt_tokens <= WINDOW - 16


def test_a_last_message_over_the_window_is_400(real: Running) -> None:
    long = "The quick brown fox jumps over the lazy dog. " * 200  # ~2,000 tokens
    with pytest.raises(openai.BadRequestError) as err:
        oa(real).chat.completions.create(
            model=name(real), messages=[{"role": "user", "content": long}], max_tokens=16
        )
    message = err.value.body["message"]  # type: ignore[index]
    assert "prompt has " in message and f"the model's context window is {WINDOW}" in message
    tokens = int(message.split("prompt has ")[1].split()[0])
    assert tokens > WINDOW
