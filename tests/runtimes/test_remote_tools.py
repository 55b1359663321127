"""Native tool calls through the remote runtimes, against real loopback
servers running the bundled SmolLM2: llama-cpp-python's OpenAI server with
``--chat_format chatml-function-calling`` (grammar-constrained arguments for
a named tool), and ``OllamaProtocolServer`` (tools listed in the prompt,
the reply constrained to one call, returned as ``message.tool_calls``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest

from backend.common.config import OllamaSettings, OpenAIEndpoint, Settings
from backend.common.errors import ModelError
from backend.common.events import Done, ErrorEvent, TextDelta, ToolCallEvent, Usage
from backend.knowledge.embedder import Embedder
from backend.modelfiles.catalog import bundled_model_path
from backend.runtimes.base import ChatMessage, GenerationParams, GenerationRequest, Runtime
from backend.runtimes.native_tools import openai_tools
from backend.runtimes.ollama import OllamaRuntime
from backend.runtimes.openai_compat import KEY_ENV, OpenAICompatRuntime
from backend.runtimes.remote_tools import StreamedCalls, openai_tool_choice
from backend.tools.base import Tool
from backend.tools.builtin import ToolContext, builtin_tools
from backend.tools.calling import ToolRouter, decide

from .llama_openai_server import llama_openai_server
from .ollama_protocol_server import MODEL_NAME, OllamaProtocolServer

NO_TOOLS = "gemma:2b"
CALC_PARAMS = {
    "type": "object",
    "properties": {"expression": {"type": "string", "pattern": "^[0-9][0-9*+/() .-]*$"}},
    "required": ["expression"],
}
CALC = openai_tools([("calculator", "Evaluate arithmetic.", CALC_PARAMS)])


# ---------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def openai_url() -> Iterator[str]:
    with llama_openai_server("smol", chat_format="chatml-function-calling") as url:
        rt = _openai(url)
        deadline = time.monotonic() + 60
        while not rt.list_models():
            assert time.monotonic() < deadline, "llama_cpp.server does not list its model"
            rt._caches["local"].invalidate()
            time.sleep(0.3)
        yield url


@pytest.fixture(scope="module")
def ollama_server() -> Iterator[OllamaProtocolServer]:
    model = bundled_model_path()
    assert model is not None
    with OllamaProtocolServer(model, no_tools=(NO_TOOLS,)) as server:
        yield server


@pytest.fixture(scope="module")
def router(minilm: Embedder) -> ToolRouter:
    return ToolRouter(minilm)


@pytest.fixture(scope="module")
def tools() -> list[Tool]:
    context = ToolContext(
        roots=lambda: [], notes_dir=Path("/nonexistent-notes"), search=lambda q, k: []
    )
    return builtin_tools(context)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "unused")


def _openai(url: str) -> OpenAICompatRuntime:
    entry = OpenAIEndpoint.model_validate({"name": "local", "base_url": url})
    return OpenAICompatRuntime(Settings(openai_endpoints=[entry]))


def _ollama(url: str) -> OllamaRuntime:
    return OllamaRuntime(Settings(ollama=OllamaSettings.model_validate({"host": url})))


def _call(rt: Runtime, model_name: str, text: str, max_tokens: int = 96) -> list:
    model = next(m for m in rt.list_models() if m.name == model_name)
    request = GenerationRequest(
        model,
        [ChatMessage("user", text)],
        GenerationParams(max_tokens=max_tokens, temperature=0.0),
        tools=CALC,
        tool_choice="required",
    )
    return list(rt.stream(request, threading.Event()))


# ---------------------------------------------------------------- OpenAI


def test_tool_choice_and_streamed_deltas_are_joined() -> None:
    assert openai_tool_choice(CALC, "auto") == "auto"
    assert openai_tool_choice(CALC, "required") == {
        "type": "function",
        "function": {"name": "calculator"},
    }
    assert openai_tool_choice(CALC * 2, "required") == "required"

    def delta(index: int, args: str, name: str | None = None, id: str | None = None) -> object:
        return SimpleNamespace(
            index=index, id=id, function=SimpleNamespace(name=name, arguments=args)
        )

    calls = StreamedCalls()
    calls.add([delta(1, "", "clock", "b"), delta(0, '{"expr', "calculator", "a")])
    calls.add([delta(0, 'ession": "2+2"}'), delta(1, "{}")])
    assert calls.events() == [
        ToolCallEvent("calculator", {"expression": "2+2"}, "a"),
        ToolCallEvent("clock", {}, "b"),
    ]
    broken = StreamedCalls()
    broken.add([delta(0, '{"expression": "2+', "calculator")])
    with pytest.raises(ModelError, match="not valid JSON"):
        broken.events()


@pytest.mark.real_model
def test_openai_server_returns_a_required_call(openai_url: str) -> None:
    rt = _openai(openai_url)
    assert rt.native_tools(rt.list_models()[0])
    events = _call(rt, "local/smol", "What is 1234*5678?")
    calls = [e for e in events if isinstance(e, ToolCallEvent)]
    assert len(calls) == 1 and calls[0].name == "calculator" and calls[0].call_id
    jsonschema.validate(calls[0].arguments, CALC_PARAMS)
    usage = next(e for e in events if isinstance(e, Usage))
    assert usage.completion_tokens > 1  # the arguments arrived in several deltas
    assert events[-1] == Done("tool_calls")


@pytest.mark.real_model
def test_openai_cut_off_arguments_are_a_clear_error(openai_url: str) -> None:
    events = _call(_openai(openai_url), "local/smol", "What is 1234*5678?", max_tokens=3)
    error = next(e for e in events if isinstance(e, ErrorEvent))
    assert "'calculator' are not valid JSON" in error.message and "max_tokens" in error.message
    assert not any(isinstance(e, ToolCallEvent) for e in events)
    assert events[-1] == Done("error")


@pytest.mark.real_model
def test_decide_through_the_openai_server(
    openai_url: str, tools: list[Tool], router: ToolRouter
) -> None:
    rt = _openai(openai_url)
    model = rt.list_models()[0]
    conversation = [ChatMessage("user", "what is 1234*5678")]
    decision = decide(rt, model, tools, conversation, router=router)
    assert decision.call is not None and decision.call.name == "calculator"
    assert decision.call.arguments == {"expression": "1234*5678"}


# ---------------------------------------------------------------- Ollama


@pytest.mark.real_model
def test_ollama_server_returns_tool_calls(ollama_server: OllamaProtocolServer) -> None:
    rt = _ollama(ollama_server.url)
    events = _call(rt, MODEL_NAME, "What is 1234*5678?")
    sent = ollama_server.requests[-1]["tools"]
    assert [t["function"]["name"] for t in sent] == ["calculator"]
    # Ollama's tool schema (and the official client's model of it) keeps only
    # type/description/enum/items per argument: the pattern does not travel
    assert sent[0]["function"]["parameters"]["properties"] == {"expression": {"type": "string"}}
    calls = [e for e in events if isinstance(e, ToolCallEvent)]
    assert len(calls) == 1 and calls[0].name == "calculator" and calls[0].call_id == "call_0"
    jsonschema.validate(calls[0].arguments, sent[0]["function"]["parameters"])
    assert not any(isinstance(e, TextDelta) for e in events)
    assert events[-1] == Done("tool_calls")


@pytest.mark.real_model
def test_ollama_model_without_tools_is_a_clear_error(
    ollama_server: OllamaProtocolServer,
) -> None:
    events = _call(_ollama(ollama_server.url), NO_TOOLS, "What is 2+2?")
    assert isinstance(events[0], ErrorEvent)
    assert f"rejected tool calling for model {NO_TOOLS!r}" in events[0].message
    assert "does not support tools" in events[0].message
    assert events[-1] == Done("error")


@pytest.mark.real_model
def test_decide_through_the_ollama_server(
    ollama_server: OllamaProtocolServer, tools: list[Tool], router: ToolRouter
) -> None:
    rt = _ollama(ollama_server.url)
    model = next(m for m in rt.list_models() if m.name == MODEL_NAME)
    conversation = [ChatMessage("user", "what is 1234*5678")]
    decision = decide(rt, model, tools, conversation, router=router)
    assert decision.call is not None and decision.call.name == "calculator"
    assert decision.call.arguments == {"expression": "1234*5678"}
    assert ollama_server.requests[-1]["tools"][0]["function"]["name"] == "calculator"
