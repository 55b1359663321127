"""Long message lists are trimmed to the model's context window like a chat
turn's; a last message that cannot fit is a clear 400 (fake runtime with a
120-token window; the bundled model's run is in ``test_real_tools``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import ollama
import openai
import pytest

from backend.common.config import Settings
from backend.common.locations import Locations
from backend.runtimes.fake import FakeRuntime

from .conftest import Running, start_server
from .test_tool_calls import last_row, oa, ol


@pytest.fixture(scope="module")
def runtimes() -> list[FakeRuntime]:
    return [FakeRuntime(models=("other",)), FakeRuntime(models=("small",), context=120)]


@pytest.fixture(scope="module")
def tooled(
    tmp_path_factory: pytest.TempPathFactory, runtimes: list[FakeRuntime]
) -> Iterator[Running]:
    home = tmp_path_factory.mktemp("context") / "home"
    kwargs = {"locations": Locations(home), "settings": Settings(), "runtimes": runtimes}
    yield from start_server(kwargs)


def test_long_history_is_trimmed_to_the_window(
    tooled: Running, runtimes: list[FakeRuntime]
) -> None:
    small = runtimes[1]  # 120 tokens; the fake counts words + 4 per message
    history: list[dict[str, str]] = [{"role": "system", "content": "Be brief."}]
    for i in range(30):
        history.append({"role": "user", "content": f"question {i} " + "word " * 8})
        history.append({"role": "assistant", "content": f"answer {i} " + "word " * 8})
    history.append({"role": "user", "content": "the last question"})
    reply = oa(tooled).chat.completions.create(model="small", messages=history, max_tokens=20)
    assert reply.choices[0].message.content == "Echo: the last question"
    sent = small.requests[-1].messages
    assert sent[0].content == "Be brief." and sent[-1].content == "the last question"
    assert sent[1].role == "user" and len(sent) < len(history)
    assert sum(small.count_tokens(small.list_models()[0], sent)) <= 120 - 20
    assert "answer 29" in sent[-2].content  # the newest turns are the ones kept
    row = last_row(tooled, model="small")
    assert json.loads(row["detail"])["trimmed"] == len(history) - len(sent)


def test_a_last_message_too_long_for_the_window_is_400(tooled: Running) -> None:
    long = "word " * 200
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": long}]
    expected = "prompt has 210 tokens, the model's context window is 120"
    with pytest.raises(openai.BadRequestError, match=expected):
        oa(tooled).chat.completions.create(model="small", messages=msgs, max_tokens=20)
    with pytest.raises(ollama.ResponseError) as err:
        # streaming too: the error comes before the first line
        list(
            ol(tooled).chat(model="small", messages=msgs, stream=True, options={"num_predict": 20})
        )
    assert err.value.status_code == 400 and expected in str(err.value)
