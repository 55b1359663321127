"""The OpenAI-compatible runtime against a real server on loopback:
llama-cpp-python's own OpenAI server running the bundled SmolLM2."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import jsonschema
import pytest

from backend.common.config import OpenAIEndpoint, Settings
from backend.common.events import Done, ErrorEvent, TextDelta, Usage
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import ChatMessage, GenerationParams, GenerationRequest
from backend.runtimes.openai_compat import KEY_ENV, OpenAICompatRuntime

from .llama_openai_server import free_port, llama_openai_server

KEY = "test-key-123"
ALIAS = "smol"


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with llama_openai_server(ALIAS, api_key=KEY) as url:
        yield url


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


def _runtime(url: str, **kw: object) -> OpenAICompatRuntime:
    entry = OpenAIEndpoint.model_validate({"name": "local", "base_url": url, **kw})
    return OpenAICompatRuntime(Settings(openai_endpoints=[entry]))


def _run(rt: OpenAICompatRuntime, model: ModelInfo, text: str, **params: object) -> list:
    request = GenerationRequest(
        model=model,
        messages=[ChatMessage("user", text)],
        params=GenerationParams(max_tokens=24, temperature=0.0, **params),  # type: ignore[arg-type]
    )
    return list(rt.stream(request, threading.Event()))


@pytest.mark.real_model
def test_lists_models_and_streams_with_usage(server_url: str) -> None:
    rt = _runtime(server_url)
    models = rt.list_models()
    assert [m.name for m in models] == [f"local/{ALIAS}"]
    assert rt.unavailable_reason is None
    events = _run(rt, models[0], "Say hello.")
    deltas = [e for e in events if isinstance(e, TextDelta)]
    usage = next(e for e in events if isinstance(e, Usage))
    assert len(deltas) > 1 and "".join(d.text for d in deltas).strip()
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert 0 < usage.ttft_ms <= usage.total_ms
    assert isinstance(events[-1], Done) and events[-1].stop_reason in {"stop", "length"}


@pytest.mark.real_model
def test_json_schema_output_parses(server_url: str) -> None:
    """The schema reaches the server as ``response_format`` and constrains
    the reply: exactly one integer ``answer``, nothing else -- not what a
    free-running 135M model writes for this prompt."""
    rt = _runtime(server_url, json_schema="json_object")
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    events = _run(rt, rt.list_models()[0], "What is 2+2? Reply in JSON.",
                  json_schema=json.dumps(schema))  # fmt: skip
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    data = json.loads(text)
    jsonschema.validate(data, schema)
    assert list(data) == ["answer"]
    free = _run(rt, rt.list_models()[0], "What is 2+2? Reply in JSON.")
    free_text = "".join(e.text for e in free if isinstance(e, TextDelta))
    assert free_text.strip() != text.strip()  # the constraint made the difference


@pytest.mark.real_model
def test_wrong_key_is_a_clear_error(server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "wrong")
    rt = _runtime(server_url, models=[ALIAS], api_key_name="local-key")
    events = _run(rt, rt.list_models()[0], "hi")
    error = events[0]
    assert isinstance(error, ErrorEvent) and "rejected the API key (401)" in error.message
    assert "wrong" not in error.message
    assert events[-1] == Done("error")


def test_unreachable_endpoint_yields_no_models_and_reason() -> None:
    rt = _runtime(f"http://127.0.0.1:{free_port()}/v1")
    assert rt.list_models() == []
    assert "cannot reach endpoint 'local'" in (rt.unavailable_reason or "")
    events = _run(rt, ModelInfo(name="local/x", runtime="openai"), "hi")
    assert isinstance(events[0], ErrorEvent) and "cannot reach" in events[0].message


def test_silent_server_does_not_block_beyond_the_timeout() -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        rt = _runtime(f"http://127.0.0.1:{silent.getsockname()[1]}/v1", list_timeout_s=0.5)
        began = time.monotonic()
        assert rt.list_models() == []
        assert time.monotonic() - began < 2.0
        assert "did not answer in time" in (rt.unavailable_reason or "")
        began = time.monotonic()
        assert rt.list_models() == []  # cached: no second wait
        assert time.monotonic() - began < 0.1


def test_unknown_endpoint_model_is_an_error() -> None:
    rt = _runtime("http://127.0.0.1:9/v1", models=["a"])
    events = _run(rt, ModelInfo(name="other/a", runtime="openai"), "hi")
    assert isinstance(events[0], ErrorEvent)
    assert "no configured OpenAI endpoint" in events[0].message


def test_no_key_env_reads_the_named_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.common.secrets import delete_secret, set_secret
    from backend.runtimes.openai_compat import read_api_key

    monkeypatch.delenv(KEY_ENV)
    set_secret("openai-test-work", "sk-stored")
    try:
        assert read_api_key("openai-test-work") == "sk-stored"
    finally:
        delete_secret("openai-test-work")
    assert read_api_key(None) is None
