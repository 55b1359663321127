"""Deciding on a tool call with a small local model.

Free-form tool calling does not work on a 135M model, and even with the
output constrained to ``{"tool": <enum>, "arguments": {...}}`` the bundled
SmolLM2 picks the tool poorly while filling arguments well (choosing among
two candidates and writing arguments freely: selection 0.57, arguments
0.44 on ``tests/data/tool_eval.jsonl``). So a call is decided in parts:

1. **Route** (``ToolRouter``): the request is compared (MiniLM cosine, the
   embedder the knowledge base already loaded) with each tool's description
   and worked examples and with examples of requests that need no tool
   (``NONE_EXAMPLES``). A request clearly closer to those than to any tool
   (``NONE_MARGIN``) ends here, with no model call. An elliptic follow-up
   ("And of Germany?", ``FOLLOW_UP``) gets a tool only if the question
   before it clearly wanted the same one.
2. **Decide** (``decide``): only the router's top tool is offered. The
   model writes one JSON object whose shape a JSON schema fixes -- on
   llama.cpp a grammar compiled from it, so the output always parses: the
   tool name is a constant, its ``arguments`` follow the tool's schema, and
   ``{"tool": "none"}`` is allowed only when the router is unsure
   (``TOOL_MARGIN``).
3. **Copy, not write** (``backend.tools.spans``): span arguments are an enum
   of the request's word spans; a tool whose ``span_check`` accepts no span
   of the request (no arithmetic for the calculator) is not offered at all.

``assistant eval tools`` measures the whole on a question set (see
``backend/tools/evaluate.py``); the figures are in the README.

Without a router (no embedder), every enabled tool is offered and the model
picks. Runtimes without JSON-schema support get the same prompt and their
reply is parsed leniently (the first JSON object in it); a reply that still
does not parse means "no tool".
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend.common.events import Usage
from backend.knowledge.embedder import Embedder
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import (
    ChatMessage,
    GenerationParams,
    GenerationRequest,
    Runtime,
    complete,
    complete_calls,
)
from backend.runtimes.native_tools import openai_tools
from backend.tools.base import Tool, ToolCall
from backend.tools.decision_prompt import NO_TOOL, decision_messages
from backend.tools.spans import span_choices

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
    request: GenerationRequest | None = None
    """The hidden call as sent (None when no model was asked)."""


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
    if runtime.native_tools(model):
        return _decide_native(
            runtime, model, offered, conversation, request_text, allow_none, shortlist, cancel, seed
        )
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
        request=request,
    )


NATIVE_SYSTEM = (
    "You are a helpful assistant. Call a tool when it is needed to answer the user's "
    "last message; otherwise answer directly."
)


def _decide_native(
    runtime: Runtime,
    model: ModelInfo,
    offered: list[Tool],
    conversation: list[ChatMessage],
    request_text: str,
    allow_none: bool,
    shortlist: Shortlist | None,
    cancel: threading.Event | None,
    seed: int,
) -> Decision:
    """The decision in the model's own tool format (its chat template, or
    its server's tools API): the same offered tools and span-limited
    argument schemas as the JSON decision, and ``tool_choice="required"``
    where the JSON decision would not offer "none"."""
    tools = openai_tools(
        [(t.name, t.description, _argument_schema(t, request_text)) for t in offered]
    )
    params = GenerationParams(max_tokens=DECISION_TOKENS, temperature=0.0, seed=seed)
    messages = conversation
    if not any(m.role == "system" for m in conversation):
        messages = [ChatMessage("system", NATIVE_SYSTEM), *conversation]
    request = GenerationRequest(
        model,
        messages,
        params,
        tools=tools,
        tool_choice="auto" if allow_none else "required",
    )
    text, calls, usage = complete_calls(runtime, request, cancel)
    names = {t.name for t in offered}
    chosen = next((c for c in calls if c.name in names), None)
    raw = text + "".join(json.dumps({"name": c.name, "arguments": c.arguments}) for c in calls)
    return Decision(
        ToolCall(chosen.name, dict(chosen.arguments)) if chosen else None,
        raw=raw,
        offered=[t.name for t in offered],
        usage=usage,
        shortlist=shortlist,
        request=request,
    )
