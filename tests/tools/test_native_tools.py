"""Native tool calling: detecting templates that take tools, parsing each
envelope, the envelope grammar, and on the real bundled model re-templated
with a Hermes/Qwen-style tools template (the same ChatML tokens SmolLM2
uses): the runtime renders the tools through the template, the grammar
keeps the reply in the native envelope, and ``decide`` takes that path."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import jsonschema
import pytest

from backend.common.config import Settings
from backend.common.events import TextDelta, ToolCallEvent
from backend.common.locations import Locations
from backend.knowledge.embedder import Embedder
from backend.modelfiles.catalog import ModelInfo, bundled_model_path
from backend.modelfiles.gguf_header import validate_gguf
from backend.runtimes.base import ChatMessage, GenerationParams, GenerationRequest, complete_calls
from backend.runtimes.llamacpp import LlamaCppRuntime
from backend.runtimes.llamacpp_process import LlamaCppProcessRuntime
from backend.runtimes.native_tools import (
    NativeCall,
    envelope_grammar,
    gguf_tool_format,
    openai_tools,
    parse_tool_calls,
    template_supports_tools,
    tool_format,
)
from backend.tools.base import Tool
from backend.tools.builtin import ToolContext, builtin_tools
from backend.tools.calling import ToolRouter, decide

TEMPLATE = Path(__file__).parent.parent / "data" / "hermes_tools_template.jinja"
CALC = openai_tools(
    [
        (
            "calculator",
            "Evaluate arithmetic.",
            {
                "type": "object",
                "properties": {
                    "expression": {"type": "string", "pattern": "^[0-9][0-9*+/() .-]*$"}
                },
                "required": ["expression"],
            },
        )
    ]
)


def test_templates_that_read_tools_are_detected() -> None:
    hermes = TEMPLATE.read_text()
    assert template_supports_tools(hermes)
    assert tool_format(hermes) == "hermes"
    bundled = validate_gguf(bundled_model_path()).chat_template  # type: ignore[arg-type]
    assert bundled and not template_supports_tools(bundled)
    # the word in the text is not the variable
    assert not template_supports_tools("{{ 'use tools wisely' }}{{ messages }}")
    assert template_supports_tools("{% if tools %}x{% endif %}")
    assert not template_supports_tools("{% if %}broken")
    assert not template_supports_tools(None)
    assert tool_format("{% if tools %}[TOOL_CALLS]{% endif %}") == "mistral"
    assert tool_format("{% if tools %}<|python_tag|>{% endif %}") == "llama3"
    assert tool_format("{% if tools %}{{ tools }}{% endif %}") == "json"


def test_parse_each_envelope() -> None:
    text, calls = parse_tool_calls(
        'Sure.\n<tool_call>\n{"name": "calculator", "arguments": {"expression": "2+2"}}\n'
        '</tool_call>\n<tool_call>{"name": "clock", "arguments": {}}</tool_call>',
        "hermes",
    )
    assert text == "Sure."
    assert calls == [NativeCall("calculator", {"expression": "2+2"}), NativeCall("clock", {})]

    text, calls = parse_tool_calls(
        'Let me check. [TOOL_CALLS] [{"name": "a", "arguments": {"x": 1}}]', "mistral"
    )
    assert (text, calls) == ("Let me check.", [NativeCall("a", {"x": 1})])

    text, calls = parse_tool_calls(
        '<|python_tag|>{"name": "a", "parameters": {"x": "y"}}', "llama3"
    )
    assert (text, calls) == ("", [NativeCall("a", {"x": "y"})])
    # OpenAI-style arguments as a JSON string
    _, calls = parse_tool_calls('{"name": "a", "arguments": "{\\"x\\": 2}"}', "json")
    assert calls == [NativeCall("a", {"x": 2})]


def test_replies_without_a_well_formed_call_are_text() -> None:
    assert parse_tool_calls("Just an answer.", "hermes") == ("Just an answer.", [])
    broken = "<tool_call>{not json</tool_call>"
    assert parse_tool_calls(broken, "hermes") == (broken, [])
    assert parse_tool_calls('{"no": "name"}', "json") == ('{"no": "name"}', [])
    assert parse_tool_calls("[TOOL_CALLS] nothing", "mistral") == ("[TOOL_CALLS] nothing", [])
    assert parse_tool_calls('The JSON is {"name": "a"}', "llama3")[1] == []


@pytest.mark.parametrize("fmt", ["hermes", "mistral", "llama3", "json"])
def test_envelope_grammars_compile(fmt: str) -> None:
    from llama_cpp.llama_grammar import LlamaGrammar

    grammar = envelope_grammar(CALC, fmt)  # type: ignore[arg-type]
    assert grammar.startswith("root ::=")
    LlamaGrammar.from_string(grammar, verbose=False)


# ---------------------------------------------------------------- real model


@pytest.fixture(scope="module")
def hermes_model(tmp_path_factory: pytest.TempPathFactory) -> ModelInfo:
    """The bundled GGUF with a tools-aware chat template written into it."""
    out = tmp_path_factory.mktemp("gguf") / "smollm2-hermes-tools.gguf"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gguf.scripts.gguf_new_metadata",
            "--chat-template-file",
            str(TEMPLATE),
            "--force",
            str(bundled_model_path()),
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return ModelInfo(name="smollm2-hermes-tools", runtime="llamacpp", path=out)


@pytest.fixture(scope="module")
def runtime(smollm2: tuple[LlamaCppRuntime, ModelInfo]) -> LlamaCppRuntime:
    return smollm2[0]


@pytest.fixture(scope="module")
def tools() -> list[Tool]:
    context = ToolContext(
        roots=lambda: [], notes_dir=Path("/nonexistent-notes"), search=lambda q, k: []
    )
    return builtin_tools(context)


@pytest.mark.real_model
def test_native_tools_follow_the_models_template(
    runtime: LlamaCppRuntime, hermes_model: ModelInfo
) -> None:
    bundled = ModelInfo(name="bundled", runtime="llamacpp", path=bundled_model_path())
    assert gguf_tool_format(hermes_model.path) == "hermes"
    assert runtime.native_tools(hermes_model)
    assert not runtime.native_tools(bundled)
    prompt = runtime._render(
        runtime._ensure_loaded(hermes_model), [ChatMessage("user", "hi")], tools=CALC
    )
    assert "<tools>" in prompt and '"calculator"' in prompt


@pytest.mark.real_model
def test_a_required_native_call_comes_back_as_a_tool_call_event(
    runtime: LlamaCppRuntime, hermes_model: ModelInfo
) -> None:
    request = GenerationRequest(
        hermes_model,
        [ChatMessage("user", "What is 1234*5678?")],
        tools=CALC,
        tool_choice="required",
    )
    events = list(runtime.stream(request, threading.Event()))
    calls = [e for e in events if isinstance(e, ToolCallEvent)]
    assert len(calls) == 1 and calls[0].name == "calculator"
    jsonschema.validate(calls[0].arguments, CALC[0]["function"]["parameters"])
    # the envelope is parsed away, not shown as text
    assert not any("<tool_call>" in e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.real_model
def test_decide_uses_the_native_format_through_the_worker_process(
    hermes_model: ModelInfo, tools: list[Tool], tmp_path: Path, minilm: Embedder
) -> None:
    """The whole decision on the real router and model, across the worker
    process boundary (requests and events pickle)."""
    rt = LlamaCppProcessRuntime(Settings(), Locations(tmp_path).ensure())
    try:
        assert rt.native_tools(hermes_model)
        router = ToolRouter(minilm)
        decision = decide(
            rt, hermes_model, tools, [ChatMessage("user", "what is 1234*5678")], router=router
        )
        assert decision.call is not None and decision.call.name == "calculator"
        assert decision.call.arguments == {"expression": "1234*5678"}
        assert json.loads(decision.raw)["name"] == "calculator"
        # a plain request with tools offered still answers as text
        text, calls, _ = complete_calls(
            rt,
            GenerationRequest(
                hermes_model,
                [ChatMessage("user", "Say hello.")],
                GenerationParams(max_tokens=32, temperature=0.0, seed=0),
                tools=CALC,
            ),
        )
        assert all(c.name == "calculator" for c in calls)
        assert text or calls
    finally:
        rt.close()
