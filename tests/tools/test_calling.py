"""The constrained tool decision: spans, the decision schema, parsing, the
embedding router (real MiniLM) and a grammar-constrained decision on the
real bundled model; plus the tool-eval scoring rules."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from backend.knowledge.embedder import Embedder
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import ChatMessage
from backend.runtimes.llamacpp import LlamaCppRuntime
from backend.tools.base import Tool, ToolCall
from backend.tools.builtin import ToolContext, arithmetic_form, builtin_tools
from backend.tools.calling import (
    NO_TOOL,
    ToolRouter,
    decide,
    decision_schema,
    parse_decision,
)
from backend.tools.evaluate import CaseError, ToolCase, argument_matches, load_cases, score_case
from backend.tools.spans import span_choices, spans


@pytest.fixture(scope="module")
def tools() -> list[Tool]:
    context = ToolContext(
        roots=lambda: [], notes_dir=Path("/nonexistent-notes"), search=lambda q, k: []
    )
    return builtin_tools(context)


def by_name(tools: list[Tool], name: str) -> Tool:
    return next(t for t in tools if t.name == name)


def test_spans_trim_punctuation_but_keep_paired_brackets() -> None:
    out = spans("Open notes/todo.md? (17 + 25) * 3")
    assert "notes/todo.md" in out and "notes/todo.md?" not in out
    assert "(17 + 25) * 3" in out
    assert "(17" not in out and "17" in out  # an unpaired bracket is trimmed
    assert out.index("Open") < out.index("Open notes/todo.md")  # shortest first
    assert len(spans("word " * 500, cap=50)) <= 50
    assert spans("   ") == []


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        ("What's the square root of 1764?", ["square root of 1764"]),
        ("what is 1234*5678", ["1234*5678"]),
        ("Calculate 15 percent of 240", ["15 percent of 240"]),
        ("what is 3 plus 4 and what is 5 times 6", ["3 plus 4", "5 times 6"]),
        ("Explain what recursion is", []),
        ("I was born in 1990", []),  # a lone number is nothing to calculate
    ],
)
def test_calculator_is_offered_the_arithmetic_in_the_request(
    tools: list[Tool], request_text: str, expected: list[str]
) -> None:
    assert span_choices(by_name(tools, "calculator"), request_text) == expected


def test_arithmetic_form() -> None:
    assert arithmetic_form("2 to the power of 10") == "2**10"
    assert arithmetic_form("42") is None and arithmetic_form("hello") is None


def test_decision_schema_names_tools_as_constants_and_limits_spans(tools: list[Tool]) -> None:
    offered = [by_name(tools, "search_documents"), by_name(tools, "calculator")]
    schema = decision_schema(offered, "search my notes for tomatoes")
    names = [o["properties"]["tool"]["const"] for o in schema["anyOf"]]
    assert names == ["search_documents", "calculator", NO_TOOL]
    query = schema["anyOf"][0]["properties"]["arguments"]["properties"]["query"]
    assert "tomatoes" in query["enum"] and "notes for tomatoes" in query["enum"]
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"tool": "none"})
    assert validator.is_valid({"tool": "search_documents", "arguments": {"query": "tomatoes"}})
    assert not validator.is_valid({"tool": "search_documents", "arguments": {"query": "cats"}})
    assert not validator.is_valid({"tool": "rm_rf", "arguments": {}})
    no_none = decision_schema(offered, "x", allow_none=False)
    assert NO_TOOL not in json.dumps(no_none)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"tool": "calculator", "arguments": {"expression": "1+1"}}',
            ("calculator", {"expression": "1+1"}),
        ),
        (
            'Sure! {"tool": "calculator", "arguments": {"expression": "2"}} done',
            ("calculator", {"expression": "2"}),
        ),
        ('{"tool": "none"}', None),
        ('{"tool": "format_disk", "arguments": {}}', None),  # not offered
        ("not json at all", None),
        ('{"tool": "calculator", "arguments": "oops"}', ("calculator", {})),
        ("[1, 2]", None),
    ],
)
def test_parse_decision(
    tools: list[Tool], text: str, expected: tuple[str, dict[str, str]] | None
) -> None:
    call = parse_decision(text, tools)
    assert (None if call is None else (call.name, call.arguments)) == expected


@pytest.fixture(scope="module")
def router(minilm: Embedder) -> ToolRouter:
    return ToolRouter(minilm)


@pytest.mark.parametrize(
    ("request_text", "best"),
    [
        ("what is 1234*5678", "calculator"),
        ("what time is it in Tokyo?", "current_time"),
        ("what do my notes say about tomatoes?", "search_documents"),
        ("save a note saying buy milk", "save_note"),
    ],
)
def test_router_ranks_the_right_tool_first(
    router: ToolRouter, tools: list[Tool], request_text: str, best: str
) -> None:
    shortlist = router.shortlist(request_text, tools)
    assert shortlist.tools[0][0] == best
    assert shortlist.tools[0][1] > shortlist.none_score


def test_router_sees_chat_as_no_tool(router: ToolRouter, tools: list[Tool]) -> None:
    shortlist = router.shortlist("Write a short poem about autumn leaves.", tools)
    assert shortlist.none_score > shortlist.tools[0][1]


@pytest.fixture(scope="module")
def llama(smollm2: tuple[LlamaCppRuntime, ModelInfo]) -> tuple[LlamaCppRuntime, ModelInfo]:
    return smollm2


@pytest.mark.real_model
def test_grammar_decision_on_the_bundled_model_is_always_valid(
    llama: tuple[LlamaCppRuntime, ModelInfo], tools: list[Tool]
) -> None:
    """Without the router, every tool offered: whatever SmolLM2 picks, the
    grammar makes it a valid call of an offered tool with valid arguments."""
    runtime, model = llama
    for text in ("what is 1234*5678", "open travel/plan.md", "hello there", "save a note: hi"):
        decision = decide(runtime, model, tools, [ChatMessage("user", text)])
        data = json.loads(decision.raw)
        jsonschema.validate(data, decision_schema(tools, text))
        if decision.call is not None:
            tool = by_name(tools, decision.call.name)
            jsonschema.validate(decision.call.arguments, tool.parameters)


def test_argument_matching_rules() -> None:
    assert argument_matches("1234*5678", "5678*1234", "value")
    assert argument_matches("2**10", "2 to the power of 10", "value")
    assert not argument_matches("2**10", "2*10", "value")
    assert argument_matches("Tomatoes", " tomatoes ", "equal")
    assert argument_matches("milk", "buy milk tomorrow", "contains")
    assert not argument_matches("milk", "bread", "contains")


def test_score_case_and_bad_case_files(tmp_path: Path) -> None:
    case = ToolCase("what is 2+2", "calculator", {"expression": "2+2"}, {"expression": "value"})
    good = score_case(case, ToolCall("calculator", {"expression": "4"}))
    assert good.tool_ok and good.arguments_ok
    wrong = score_case(case, None)
    assert not wrong.tool_ok and not wrong.arguments_ok
    none_case = ToolCase("hi", None, {}, {})
    assert score_case(none_case, None).tool_ok
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "x", "tool": null}\nnot json\n')
    with pytest.raises(CaseError, match="line 2"):
        load_cases(bad)
    bad.write_text('{"q": "x", "tool": "calculator", "match": {"a": "fuzzy"}}\n')
    with pytest.raises(CaseError, match="unknown match rule"):
        load_cases(bad)


@pytest.mark.parametrize(
    ("previous", "follow_up", "offered"),
    [
        ("What is the capital of France?", "And of Germany?", None),
        ("what time is it in Tokyo?", "and in Paris?", "current_time"),
        ("what is 1234*5678", "and 12*12?", "calculator"),
        (None, "And what time is it in Paris?", "current_time"),  # no earlier question
    ],
)
def test_elliptic_follow_ups_are_routed_like_the_question_before(
    router: ToolRouter,
    tools: list[Tool],
    previous: str | None,
    follow_up: str,
    offered: str | None,
) -> None:
    from backend.runtimes.fake import FakeRuntime

    asked: list[str] = []

    def decider(request: object) -> str:
        schema = json.loads(request.params.json_schema)  # type: ignore[attr-defined]
        asked.extend(o["properties"]["tool"]["const"] for o in schema["anyOf"])
        return '{"tool": "none"}'

    runtime = FakeRuntime(decider=decider)
    (model,) = runtime.list_models()
    history = [ChatMessage("user", follow_up)]
    decide(runtime, model, tools, history, router=router, previous_text=previous)
    assert (asked[0] if asked else None) == offered


def test_a_failing_runtime_is_a_model_error(tools: list[Tool]) -> None:
    from backend.common.errors import ModelError
    from backend.runtimes.fake import FakeRuntime

    runtime = FakeRuntime(fail_with="out of memory")
    (model,) = runtime.list_models()
    with pytest.raises(ModelError, match="out of memory"):
        decide(runtime, model, tools, [ChatMessage("user", "what is 2+2")])
