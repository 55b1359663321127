"""``response_format`` on ``/v1/chat/completions`` and ``format`` on
``/api/chat`` and ``/api/generate``, through the official clients, on a
fake runtime that answers with the user's message verbatim (so a test
decides whether the reply fits): the schema reaches the runtime, a valid
reply passes, one that breaks the schema is an error (never a silent
pass), and an invalid schema is a 400."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest

from backend.common.config import Settings
from backend.common.locations import Locations
from backend.runtimes.base import ChatMessage
from backend.runtimes.fake import FakeRuntime

from .conftest import Running, start_server

CITY = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "people": {"type": "integer"}},
    "required": ["city"],
}
GOOD = '{"city": "Lyon", "people": 522000}'


def verbatim(messages: list[ChatMessage]) -> str:
    return next(m.content for m in reversed(messages) if m.role == "user")


@pytest.fixture(scope="module")
def runtime() -> FakeRuntime:
    return FakeRuntime(responder=verbatim)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, runtime: FakeRuntime) -> Iterator[Running]:
    home: Path = tmp_path_factory.mktemp("structured") / "home"
    kwargs = {
        "locations": Locations(home),
        "settings": Settings(default_model="fake-model"),
        "runtimes": [runtime],
    }
    yield from start_server(kwargs)


def oai(served: Running) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key=served.token, max_retries=0)


def oll(served: Running) -> ollama.Client:
    return ollama.Client(host=served.url, headers={"Authorization": f"Bearer {served.token}"})


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def json_schema(schema: dict[str, Any]) -> Any:
    return {"type": "json_schema", "json_schema": {"name": "city", "schema": schema}}


def test_openai_json_schema_reaches_the_runtime_and_validates(
    served: Running, runtime: FakeRuntime
) -> None:
    reply = oai(served).chat.completions.create(
        model="fake-model", messages=user(GOOD), response_format=json_schema(CITY)
    )
    assert json.loads(reply.choices[0].message.content or "") == json.loads(GOOD)
    assert json.loads(runtime.requests[-1].params.json_schema or "") == CITY


def test_openai_json_object_and_plain_text(served: Running, runtime: FakeRuntime) -> None:
    c = oai(served)
    reply = c.chat.completions.create(
        model="fake-model", messages=user('{"ok": true}'), response_format={"type": "json_object"}
    )
    assert json.loads(reply.choices[0].message.content or "") == {"ok": True}
    assert json.loads(runtime.requests[-1].params.json_schema or "") == {"type": "object"}
    reply = c.chat.completions.create(
        model="fake-model", messages=user("just words"), response_format={"type": "text"}
    )
    assert reply.choices[0].message.content == "just words"
    assert runtime.requests[-1].params.json_schema is None


def test_openai_reply_that_breaks_the_schema_is_an_error(served: Running) -> None:
    c = oai(served)
    with pytest.raises(openai.APIStatusError, match=r"\$\.people") as err:
        c.chat.completions.create(
            model="fake-model",
            messages=user('{"city": "Lyon", "people": "many"}'),
            response_format=json_schema(CITY),
        )
    assert err.value.status_code == 502
    with pytest.raises(openai.APIStatusError, match="not valid JSON"):
        c.chat.completions.create(
            model="fake-model", messages=user("[1, 2"), response_format={"type": "json_object"}
        )
    stream = c.chat.completions.create(
        model="fake-model",
        messages=user('["not", "an", "object"]'),
        response_format={"type": "json_object"},
        stream=True,
    )
    with pytest.raises(openai.APIError, match="does not match the schema"):
        for _ in stream:
            pass


@pytest.mark.parametrize(
    "fmt",
    [
        {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nope"}}},
        {"type": "json_schema", "json_schema": {"name": "x"}},
        {"type": "yaml"},
    ],
)
def test_openai_bad_response_format_is_400(served: Running, fmt: Any) -> None:
    with pytest.raises(openai.BadRequestError, match="response_format"):
        oai(served).chat.completions.create(
            model="fake-model", messages=user(GOOD), response_format=fmt
        )


def test_ollama_format_schema_and_json(served: Running, runtime: FakeRuntime) -> None:
    c = oll(served)
    chat = c.chat(model="fake-model", messages=user(GOOD), format=CITY, stream=False)
    assert json.loads(chat.message.content or "") == json.loads(GOOD)
    assert json.loads(runtime.requests[-1].params.json_schema or "") == CITY
    streamed = "".join(
        part.message.content or ""
        for part in c.chat(model="fake-model", messages=user(GOOD), format="json", stream=True)
    )
    assert json.loads(streamed) == json.loads(GOOD)
    gen = c.generate(model="fake-model", prompt='{"n": 1}', format="json", stream=False)
    assert json.loads(gen.response) == {"n": 1}
    assert json.loads(runtime.requests[-1].params.json_schema or "") == {"type": "object"}


def test_ollama_reply_that_breaks_the_format_is_an_error(served: Running) -> None:
    c = oll(served)
    with pytest.raises(ollama.ResponseError, match="'city' is a required property") as err:
        c.chat(model="fake-model", messages=user('{"town": "Lyon"}'), format=CITY, stream=False)
    assert err.value.status_code == 502
    with pytest.raises(ollama.ResponseError, match="not valid JSON"):
        list(c.generate(model="fake-model", prompt="hello", format="json", stream=True))


def test_ollama_bad_format_is_400(served: Running) -> None:
    c = oll(served)
    with pytest.raises(ollama.ResponseError, match="not a valid JSON schema") as err:
        c.chat(
            model="fake-model",
            messages=user(GOOD),
            format={"type": "object", "required": "city"},
            stream=False,
        )
    assert err.value.status_code == 400
    # the client refuses other strings itself: sent raw
    raw = httpx.post(
        served.url + "/api/generate",
        json={"model": "fake-model", "prompt": "hi", "format": "yaml", "stream": False},
        headers=served.headers(),
    )
    assert raw.status_code == 400
    assert raw.json() == {"error": "'format' must be \"json\" or a JSON schema object"}
