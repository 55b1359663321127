"""The source router's rules on a fake embedder and the fake runtime:
forcing, cues (a side-effect tool only on an imperative), similarity, the
model call when unsure, the conservative default, availability, follow-ups;
and the routing-eval scoring. The real MiniLM + bundled model path is in
``test_routing_real``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.chat.routing import SourceRouter, check_force, force_token
from backend.chat.routing_cues import EXAMPLES
from backend.chat.routing_eval import (
    RoutingCase,
    RoutingCaseError,
    case_row,
    load_routing_cases,
    summarize_routing,
)
from backend.runtimes.base import GenerationRequest
from backend.runtimes.fake import FakeRuntime
from backend.tools.base import Tool, ToolExample, ToolOutput
from backend.tools.builtin import ToolContext, builtin_tools
from tests.fake_embedder import FakeEmbedder

ALL = {"documents": "handbook", "chats": "", "memory": "", "tool": ""}


def _weather() -> Tool:
    return Tool(
        name="web.weather",
        description="Weather forecast for a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
        run=lambda args: ToolOutput("sunny"),
        origin="mcp",
        examples=(ToolExample("weather forecast for a city tomorrow", {"city": "Paris"}),),
    )


@pytest.fixture(scope="module")
def tools() -> list[Tool]:
    context = ToolContext(roots=lambda: [], notes_dir=Path("/nonexistent"), search=lambda q, k: [])
    return [*builtin_tools(context), _weather()]


@pytest.fixture
def router() -> SourceRouter:
    return SourceRouter(FakeEmbedder())


def test_force_tokens_are_read_and_removed() -> None:
    assert force_token("@docs when is the launch?") == ("documents", "when is the launch?")
    assert force_token("what is 2+2 @tool:calculator") == ("tool:calculator", "what is 2+2")
    assert force_token("ask @chats about it") == ("chats", "ask about it")
    assert force_token("mail me at a@docs.com") == (None, "mail me at a@docs.com")
    with pytest.raises(ValueError, match="unknown source"):
        check_force("web")


def test_forced_source_wins_over_everything(router: SourceRouter, tools: list[Tool]) -> None:
    e = router.route("What time is it?", ALL, tools=tools, force="documents").event
    assert (e.source, e.forced, e.label) == ("documents", True, "handbook")
    assert e.chip == "source: documents (handbook)"
    e = router.route("hello", ALL, tools=tools, force="tool:calculator").event
    assert (e.source, e.tools) == ("tool", ("calculator",))
    e = router.route("hello", ALL, tools=tools, force="tool:nope").event
    assert e.tools == () and "no tool named nope" in e.reason
    e = router.route("hello", {}, force="memory").event
    assert e.source == "memory" and "not available" in e.reason


@pytest.mark.parametrize(
    ("question", "source", "names"),
    [
        ("Save a note that the vendor call moved", "tool", ("save_note",)),
        ("please jot down that the key is under the mat", "tool", ("save_note",)),
        ("What time is it in Tokyo?", "tool", ("current_time",)),
        ("what is 1234*5678", "tool", ("calculator",)),
        ("List the files in my recipes folder", "tool", ("list_files",)),
        ("What did we discuss about the budget?", "chats", ()),
        ("Do you remember my daughter's name?", "memory", ()),
        ("What do my notes say about tomatoes?", "documents", ()),
        ("Good evening!", "none", ()),
    ],
)
def test_cues(
    router: SourceRouter, tools: list[Tool], question: str, source: str, names: tuple[str, ...]
) -> None:
    e = router.route(question, ALL, tools=tools).event
    assert (e.source, e.tools) == (source, names), e.reason


def test_side_effect_tool_only_on_an_imperative(router: SourceRouter, tools: list[Tool]) -> None:
    # the bug: a plain lookup close to save_note's examples was offered save_note
    note = next(t for t in tools if t.name == "save_note")
    for question in (
        "When are expense reports due?",
        "What did the notes from the kickoff say?",
        "Is there a note about the reminder policy?",
        *(f"Why {e.request.lower()}" for e in note.examples),  # its words, not an imperative
    ):
        e = router.route(question, ALL, tools=tools).event
        assert "save_note" not in e.tools, (question, e)
    e = router.route("Make a note: buy milk tomorrow", ALL, tools=tools).event
    assert e.tools == ("save_note",)


def test_built_in_tools_are_not_reached_by_similarity(
    router: SourceRouter, tools: list[Tool]
) -> None:
    # "When is the launch date?" went to the clock: a built-in tool's own
    # words without its cue phrase do not route to it
    clock = [t for t in tools if t.name == "current_time"]
    e = router.route("What is the date of the launch?", ALL, tools=clock).event
    assert e.source != "tool", e.reason


def test_an_mcp_tool_is_reached_by_clear_similarity(
    router: SourceRouter, tools: list[Tool]
) -> None:
    e = router.route("weather forecast for a city tomorrow", ALL, tools=tools).event
    assert (e.source, e.tools) == ("tool", ("web.weather",))
    assert "closest to web.weather" in e.reason


def test_similarity_picks_documents_or_none(router: SourceRouter) -> None:
    e = router.route(EXAMPLES["documents"][0], ALL).event
    assert e.source == "documents" and "closest to documents" in e.reason
    e = router.route(EXAMPLES["none"][1], ALL).event
    assert e.source == "none"
    # chats and memory need a cue, even on their own examples
    assert router.route(EXAMPLES["chats"][2], ALL).event.source != "chats"


def test_documents_off_reach_the_search_tool(router: SourceRouter, tools: list[Tool]) -> None:
    e = router.route("What do my notes say about tomatoes?", {"tool": ""}, tools=tools).event
    assert (e.source, e.tools) == ("tool", ("search_documents",))


def test_unavailable_sources_are_never_chosen(router: SourceRouter, tools: list[Tool]) -> None:
    assert router.route("What did we discuss about it?", {}).event.source == "none"
    assert router.route("what is 1234*5678", {"documents": "x"}, tools=tools).event.source != (
        "tool"
    )
    assert router.route(EXAMPLES["documents"][0], {}).event.source == "none"


class Decider:
    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.requests: list[GenerationRequest] = []

    def __call__(self, request: GenerationRequest) -> str:
        self.requests.append(request)
        return self.reply


def test_unsure_asks_the_model_between_the_two_closest(router: SourceRouter) -> None:
    decider = Decider('{"source": "none"}')
    runtime = FakeRuntime(decider=decider)
    (model,) = runtime.list_models()
    question = "xylophone kumquat?"  # no words in common with any example
    routed = router.route(question, ALL, runtime=runtime, model=model)
    assert routed.event.source == "none" and routed.event.model_call
    assert "the model chose none" in routed.event.reason and routed.usage is not None
    schema = json.loads(decider.requests[0].params.json_schema or "{}")
    assert sorted(schema["properties"]["source"]["enum"]) == ["documents", "none"]
    # the hidden call is kept as sent, for `assistant log show` and `replay`
    assert routed.inputs is not None and routed.inputs.output == '{"source": "none"}'
    assert routed.inputs.messages[-1] == ("user", question)
    assert routed.inputs.params["json_schema"] == decider.requests[0].params.json_schema


def test_unsure_without_a_grammar_takes_the_conservative_default(router: SourceRouter) -> None:
    runtime = FakeRuntime()  # cannot constrain its output: no model call
    (model,) = runtime.list_models()
    e = router.route("xylophone kumquat?", ALL, runtime=runtime, model=model).event
    assert (e.source, e.model_call) == ("documents", False) and "default documents" in e.reason
    e = router.route("xylophone kumquat", {}, runtime=runtime, model=model).event
    assert e.source == "none"
    assert runtime.requests == []


def test_a_follow_up_goes_where_the_question_before_went(
    router: SourceRouter, tools: list[Tool]
) -> None:
    e = router.route("And in Paris?", ALL, tools=tools, previous="What time is it in Tokyo?")
    assert e.event.source == "tool" and e.event.reason.startswith("follow-up")
    e = router.route("And in Paris?", ALL, tools=tools, previous="Good evening!")
    assert e.event.source != "tool"


def test_routing_eval_scores_and_counts_plain_tool_rates(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(
        '{"q": "a", "source": "documents"}\n{"q": "b", "source": "tool", "tool": "save_note"}\n'
    )
    cases = load_routing_cases(path)
    from backend.common.events import SourceRouted

    rows = [
        case_row(cases[0], SourceRouted("tool", "x", tools=("save_note",)), {"save_note"}),
        case_row(cases[1], SourceRouted("tool", "y", tools=("save_note",)), {"save_note"}),
    ]
    s = summarize_routing(rows)
    assert s["accuracy"] == 0.5 and s["plain"] == 1
    assert s["plain_any_tool_rate"] == 1.0 and s["plain_side_effect"] == 1
    assert s["confusion"]["documents"]["tool"] == 1 and s["tool_named_ok"] == 1.0
    assert RoutingCase("q", "none").plain
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "a", "source": "web"}\n')
    with pytest.raises(RoutingCaseError, match="line 1: source must be one of"):
        load_routing_cases(bad)


def test_the_shipped_set_has_forty_plain_questions() -> None:
    cases = load_routing_cases(Path(__file__).parents[2] / "benchmarks/questions/routing.jsonl")
    assert sum(c.plain for c in cases) >= 40
    assert {c.source for c in cases} == {"documents", "chats", "memory", "tool", "none"}
    assert sum(bool(c.distractor) for c in cases if c.plain) >= 20
