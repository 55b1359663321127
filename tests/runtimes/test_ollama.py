"""The Ollama runtime over real HTTP against ``OllamaProtocolServer`` (the
Ollama protocol on top of llama.cpp with the bundled SmolLM2)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from backend.common.config import OllamaSettings, Settings
from backend.common.events import Done, ErrorEvent, TextDelta, Usage
from backend.modelfiles.catalog import ModelInfo, bundled_model_path
from backend.runtimes.base import ChatMessage, GenerationParams, GenerationRequest
from backend.runtimes.ollama import OllamaRuntime

from .ollama_protocol_server import MODEL_NAME, OllamaProtocolServer


@pytest.fixture(scope="module")
def server() -> Iterator[OllamaProtocolServer]:
    model = bundled_model_path()
    assert model is not None
    with OllamaProtocolServer(model) as s:
        yield s


def _runtime(host: str, **kw: object) -> OllamaRuntime:
    return OllamaRuntime(Settings(ollama=OllamaSettings.model_validate({"host": host, **kw})))


def _run(rt: OllamaRuntime, model: ModelInfo, text: str, schema: str | None = None) -> list:
    request = GenerationRequest(
        model=model,
        messages=[ChatMessage("user", text)],
        params=GenerationParams(max_tokens=24, temperature=0.0, json_schema=schema),
    )
    return list(rt.stream(request, threading.Event()))


@pytest.mark.real_model
def test_lists_streams_and_sends_num_ctx(server: OllamaProtocolServer) -> None:
    rt = _runtime(server.url, num_ctx=3072)
    models = rt.list_models()
    assert [m.name for m in models] == [MODEL_NAME] and rt.unavailable_reason is None
    events = _run(rt, models[0], "Say hello.")
    assert server.requests[-1]["options"]["num_ctx"] == 3072
    deltas = [e for e in events if isinstance(e, TextDelta)]
    usage = next(e for e in events if isinstance(e, Usage))
    assert deltas and "".join(d.text for d in deltas).strip()
    assert usage.prompt_tokens > 0 and usage.completion_tokens == len(deltas)
    assert usage.decode_tok_s is not None and usage.prefill_tok_s is not None
    assert events[-1] == Done("stop")


@pytest.mark.real_model
def test_json_schema_is_sent_as_format(server: OllamaProtocolServer) -> None:
    rt = _runtime(server.url)
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    events = _run(rt, rt.list_models()[0], "Is water wet? JSON.", json.dumps(schema))
    assert server.requests[-1]["format"] == schema
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert isinstance(json.loads(text)["ok"], bool)


@pytest.mark.real_model
def test_unknown_model_is_a_clear_error(server: OllamaProtocolServer) -> None:
    rt = _runtime(server.url)
    events = _run(rt, ModelInfo(name="nope:1b", runtime="ollama"), "hi")
    assert isinstance(events[0], ErrorEvent) and "ollama pull nope:1b" in events[0].message
    assert events[-1] == Done("error")


def test_unreachable_server_yields_no_models_quickly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rt = _runtime(f"http://127.0.0.1:{port}")
    began = time.monotonic()
    assert rt.list_models() == []
    assert time.monotonic() - began < 1.5
    assert "cannot reach the Ollama server" in (rt.unavailable_reason or "")


def test_disabled_contacts_nothing() -> None:
    rt = _runtime("http://127.0.0.1:9", enabled=False)
    assert rt.list_models() == [] and rt.unavailable_reason is None
