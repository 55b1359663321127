"""Deciding on a tool call with a small local model.

Free-form tool calling does not work on a 135M model, and even with the
output constrained to ``{"tool": <enum>, "arguments": {...}}`` the bundled
SmolLM2 picks the tool poorly while filling arguments well (probe: 5 of 9
right picks, but "Asia/Tokyo" and "budget meeting" as arguments). So a call
is decided in two parts:

1. **Shortlist** (``ToolRouter``): the request is compared (MiniLM cosine,
   the embedder the knowledge base already loaded) with each tool's
   description and worked examples and with examples of requests that need
   no tool. The best ``SHORTLIST`` tools go on; the router also says how
   sure it is: a request clearly closer to the no-tool examples than to
   any tool (``NONE_MARGIN``) ends here, with no model call.
2. **Decision** (``decide``): the model writes one JSON object whose shape a
   JSON schema fixes -- on llama.cpp a grammar compiled from it, so the
   output always parses: ``tool`` is an enum of the shortlisted names plus
   ``"none"`` (answer directly), and each tool's ``arguments`` follow its
   own schema. The prompt lists the shortlisted tools and gives one worked
   example each, the router's favourite last (small models lean towards
   the last example; this turns that bias into a vote for the router).

``assistant eval tools`` measures both parts on a question set (see
``backend/tools/evaluate.py``); the figures are in the README.

Without a router (no embedder), every enabled tool is offered. Runtimes
without JSON-schema support get the same prompt and their reply is parsed
leniently (the first JSON object in it); a reply that still does not parse
means "no tool".
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from backend.events import Usage
from backend.knowledge.embedder import Embedder
from backend.runtimes.base import (
    ChatMessage,
    GenerationParams,
    GenerationRequest,
    ModelInfo,
    Runtime,
    complete,
)
from backend.tools.base import Tool, ToolCall, ToolExample

NO_TOOL = "none"
SHORTLIST = 2
"""Tools the model chooses among (plus ``none``)."""
TOOL_MARGIN = 0.10
"""When the best tool is closer than the no-tool examples by this much, the
model is not offered "none": it only fills in that tool's arguments."""
FOLLOW_UP = re.compile(r"^\W*(?:and|or|also|then|what about|how about|same for)\b", re.I)
FOLLOW_UP_WORDS = 6
"""An elliptic follow-up ("And of Germany?", "and in Paris?") is routed like
the question before it: it gets a tool only if that question clearly
wanted the same one. Alone, "And of Germany?" looks like a time-zone
question to the router."""
NONE_MARGIN = 0.10
"""When the request is closer to the no-tool examples than to any tool by
this much (cosine), no model call is made: plain chat costs nothing extra.
Set by principle rather than fitted: on the shipped cases every request
that needs a tool is below +0.05 and chat requests range from +0.04 to
+0.47, so 0.10 leaves the borderline ones to the model."""
DECISION_TOKENS = 160
NONE_EXAMPLES = (
    "Write a limerick about a cat.",
    "Summarise the plot of a famous novel.",
    "Why is the sky blue?",
    "Good evening!",
    "Describe how photosynthesis works.",
    "Suggest a name for my new puppy.",
    "Compose a short email declining an invitation.",
    "What are the pros and cons of electric cars?",
    "How tall is Mount Everest?",
    "Who painted the Mona Lisa?",
    "How do you say cheese in Italian?",
    "Tell me something interesting about octopuses.",
    "Give me advice for a job interview.",
    "Rewrite this sentence to sound more polite.",
)
"""Requests that need no tool: the router's evidence for ``none``."""
_NONE_SHOT = ToolExample("Write a limerick about a cat.", {})


@dataclass(frozen=True)
class Shortlist:
    """The router's view of a request: tools best first with their scores,
    and the best score of the no-tool examples."""

    tools: list[tuple[str, float]]
    none_score: float


@dataclass
class Decision:
    """What the model decided: a call, or None to answer directly."""

    call: ToolCall | None
    raw: str = ""
    offered: list[str] = field(default_factory=list)
    usage: Usage | None = None
    shortlist: Shortlist | None = None


class ToolRouter:
    """Ranks tools for a request by embedding similarity.

    Each tool's profile is its description plus its examples' requests
    (plus its name's words, for MCP tools without examples); the score of a
    tool is the best cosine between the request and any of them. Profiles
    are embedded once per tool name and description.
    """

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._profiles: dict[tuple[str, str], np.ndarray] = {}
        self._none: np.ndarray | None = None
        self._lock = threading.Lock()

    def _embed(self, texts: list[str]) -> np.ndarray:
        vectors = np.asarray(self.embedder.embed(texts), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def _profile(self, tool: Tool) -> np.ndarray:
        key = (tool.name, tool.description)
        with self._lock:
            cached = self._profiles.get(key)
        if cached is not None:
            return cached
        words = tool.name.replace(".", " ").replace("_", " ")
        texts = [f"{words}: {tool.description}", *(e.request for e in tool.examples)]
        vectors = self._embed(texts)
        with self._lock:
            self._profiles[key] = vectors
        return vectors

    def shortlist(self, request: str, tools: Sequence[Tool], n: int = SHORTLIST) -> Shortlist:
        if self._none is None:
            self._none = self._embed(list(NONE_EXAMPLES))
        query = self._embed([request])[0]
        scored = [(t.name, float(np.max(self._profile(t) @ query))) for t in tools]
        scored.sort(key=lambda item: -item[1])
        return Shortlist(scored[:n], float(np.max(self._none @ query)))


# ---------------------------------------------------------------- schema


SPAN_WORDS = 8
"""Longest span (in words) offered for a span argument."""
MAX_SPANS = 300
_EDGE = "\"'`“”‘’.,;:!?()[]{}<>"


_SOFT_EDGE = "\"'`“”‘’.,;:!?"
_PAIRS = {"(": ")", "[": "]", "{": "}", "<": ">"}


def _balanced(text: str) -> bool:
    stack: list[str] = []
    for ch in text:
        if ch in _PAIRS:
            stack.append(_PAIRS[ch])
        elif ch in _PAIRS.values() and (not stack or stack.pop() != ch):
            return False
    return not stack


def _trim(run: str) -> str:
    """Edge punctuation off a span; brackets too unless they pair up
    inside it (``(17 + 25) * 3`` keeps them, ``(see`` loses one)."""
    soft = run.strip(_SOFT_EDGE)
    return soft if _balanced(soft) else run.strip(_EDGE)


def spans(request: str, max_words: int = SPAN_WORDS, cap: int = MAX_SPANS) -> list[str]:
    """The request's runs of up to ``max_words`` consecutive words, edge
    punctuation trimmed (``notes/todo.md?`` -> ``notes/todo.md``), shortest
    first, without repeats; at most ``cap``."""
    words = request.split()
    out: dict[str, None] = {}
    for n in range(1, max_words + 1):
        for i in range(len(words) - n + 1):
            run = _trim(" ".join(words[i : i + n]))
            if run:
                out.setdefault(run, None)
            if len(out) >= cap:
                return list(out)
    return list(out)


def span_choices(tool: Tool, request: str) -> list[str]:
    """The spans offered for ``tool``'s span arguments: every span, or with
    ``tool.span_check`` the shortest span of each accepted form, leaving
    out those inside a longer one (by form or by text)."""
    if tool.span_check is None:
        return spans(request)
    return list(_checked_spans(tool.span_check, request))


@lru_cache(maxsize=32)
def _checked_spans(check: Callable[[str], str | None], request: str) -> tuple[str, ...]:
    # cached: ``decide`` asks once to filter the offered tools and once
    # more for the schema, and each check may parse ~300 spans
    forms: dict[str, str] = {}
    for c in spans(request):  # shortest first, so the first span of a form wins
        form = check(c)
        if form is not None:
            forms.setdefault(form, c)
    kept = list(forms.items())
    return tuple(
        c
        for f, c in kept
        if not any(f != g and (f in g or c in d) for g, d in kept)  # inside a longer one
    )


def _argument_schema(tool: Tool, request: str | None = None) -> dict[str, Any]:
    """The tool's argument schema, with required strings made non-empty
    (small models otherwise write ``""`` and stop) and, given the
    ``request``, its span arguments limited to the request's word spans."""
    schema = json.loads(json.dumps(tool.parameters))
    schema.setdefault("type", "object")
    required = set(schema.get("required", []))
    choices = span_choices(tool, request) if request else []
    for name, prop in schema.get("properties", {}).items():
        if name in tool.span_arguments and choices and prop.get("type") == "string":
            prop["enum"] = choices
            prop.pop("minLength", None)
            prop.pop("pattern", None)
        elif name in required and prop.get("type") == "string" and "enum" not in prop:
            prop.setdefault("minLength", 1)
    return schema


def decision_schema(
    tools: Sequence[Tool], request: str | None = None, *, allow_none: bool = True
) -> dict[str, Any]:
    """``{"tool": name, "arguments": {...}}`` for each tool, or
    ``{"tool": "none"}``: one JSON schema (``anyOf``), tool names as consts;
    span arguments limited to ``request``'s word spans."""
    options: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {
                "tool": {"const": t.name},
                "arguments": _argument_schema(t, request),
            },
            "required": ["tool", "arguments"],
            "additionalProperties": False,
        }
        for t in tools
    ]
    if allow_none:
        options.append(
            {
                "type": "object",
                "properties": {"tool": {"const": NO_TOOL}},
                "required": ["tool"],
                "additionalProperties": False,
            }
        )
    return {"anyOf": options}


# ---------------------------------------------------------------- prompt


def _signature(tool: Tool) -> str:
    props = tool.parameters.get("properties", {})
    required = set(tool.parameters.get("required", []))
    args = ", ".join(name if name in required else f"{name}?" for name in props)
    return f"{tool.name}({args})"


def _shot(name: str, example: ToolExample) -> list[ChatMessage]:
    reply: dict[str, Any] = {"tool": name}
    if name != NO_TOOL:
        reply["arguments"] = example.arguments
    return [ChatMessage("user", example.request), ChatMessage("assistant", json.dumps(reply))]


def _default_example(tool: Tool) -> ToolExample:
    """An example for a tool that has none (MCP): its description as the
    request, placeholder arguments of the right types."""
    args: dict[str, Any] = {}
    for name, prop in tool.parameters.get("properties", {}).items():
        if name not in tool.parameters.get("required", []):
            continue
        kind = prop.get("type")
        if "enum" in prop:
            args[name] = prop["enum"][0]
        elif kind in ("integer", "number"):
            args[name] = 1
        elif kind == "boolean":
            args[name] = True
        else:
            args[name] = "..."
    return ToolExample(tool.description.split(".")[0].strip() or tool.name, args)


def decision_messages(tools: Sequence[Tool], conversation: list[ChatMessage]) -> list[ChatMessage]:
    """The hidden prompt: the offered tools (best last), one worked example
    each after a no-tool one, then the conversation's recent turns."""
    lines = [
        "Decide whether a tool is needed to answer the user's last message.",
        "Reply with one JSON object: a tool and its arguments, or "
        '{"tool": "none"} to answer directly.',
        "Tools:",
    ]
    lines += [f"- {_signature(t)}: {t.description}" for t in tools]
    lines.append(f"- {NO_TOOL}: no tool needed (chat, general knowledge, writing)")
    messages = [ChatMessage("system", "\n".join(lines)), *_shot(NO_TOOL, _NONE_SHOT)]
    for tool in tools:
        example = tool.examples[0] if tool.examples else _default_example(tool)
        messages += _shot(tool.name, example)
    return messages + conversation


# ---------------------------------------------------------------- parse

_OBJECT = re.compile(r"\{.*\}", re.S)


def parse_decision(text: str, tools: Sequence[Tool]) -> ToolCall | None:
    """The call in the model's reply, or None for "no tool" (also when the
    reply names no offered tool or is not JSON: a runtime without a
    grammar can say anything)."""
    match = _OBJECT.search(text)
    if match is None:
        return None
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    name = data.get("tool")
    if name not in {t.name for t in tools}:
        return None
    arguments = data.get("arguments")
    return ToolCall(str(name), arguments if isinstance(arguments, dict) else {})


# ---------------------------------------------------------------- decide


def last_user_text(conversation: list[ChatMessage]) -> str:
    return next((m.content for m in reversed(conversation) if m.role == "user"), "")


def decide(
    runtime: Runtime,
    model: ModelInfo,
    tools: Sequence[Tool],
    conversation: list[ChatMessage],
    *,
    router: ToolRouter | None = None,
    route_text: str | None = None,
    previous_text: str | None = None,
    cancel: threading.Event | None = None,
    seed: int = 0,
) -> Decision:
    """Ask the model whether (and how) to call one of ``tools`` for the
    last user message of ``conversation`` (recent turns, tool results
    included). ``route_text`` is what the router ranks tools for (default:
    that last user message; the loop passes the user's question, since
    after a step the last message is a tool result). ``previous_text``:
    the user's question before this one, for elliptic follow-ups
    (``FOLLOW_UP``). Greedy, so the same conversation gets the same
    decision.

    Raises:
        ModelError: the runtime failed.
    """
    if not tools:
        return Decision(None)
    offered = list(tools)
    shortlist = None
    allow_none = True
    if router is not None:
        text = route_text or last_user_text(conversation)
        shortlist = router.shortlist(text, offered)
        best_name, best = shortlist.tools[0]
        if shortlist.none_score >= best + NONE_MARGIN:
            return Decision(None, offered=[], shortlist=shortlist)
        if previous_text and FOLLOW_UP.match(text) and len(text.split()) <= FOLLOW_UP_WORDS:
            before = router.shortlist(previous_text, offered)
            if before.tools[0][0] != best_name or before.none_score >= before.tools[0][1]:
                return Decision(None, offered=[], shortlist=shortlist)
        offered = [t for t in offered if t.name == best_name]
        allow_none = best < shortlist.none_score + TOOL_MARGIN
    request_text = route_text or last_user_text(conversation)
    # a tool whose span arguments find nothing in the request (no
    # arithmetic for the calculator) has nothing to do here
    offered = [t for t in offered if t.span_check is None or span_choices(t, request_text)]
    if not offered:
        return Decision(None, offered=[], shortlist=shortlist)
    schema = json.dumps(decision_schema(offered, request_text, allow_none=allow_none))
    params = GenerationParams(
        max_tokens=DECISION_TOKENS, temperature=0.0, seed=seed, json_schema=schema
    )
    request = GenerationRequest(model, decision_messages(offered, conversation), params)
    raw, usage = complete(runtime, request, cancel)
    return Decision(
        parse_decision(raw, offered),
        raw=raw,
        offered=[t.name for t in offered],
        usage=usage,
        shortlist=shortlist,
    )
