"""Which source answers a question: the user's documents, past chats,
memory, a tool, or none (the model alone).

Before this, every question of a conversation with tools on went through
the tool decision, and the tool router only compared the question with the
tools and with examples of chat. A plain lookup has no evidence on either
side, so the nearest tool won: "When are expense reports due?" was offered
``save_note`` (the user was asked to approve a note they never asked for)
and "When is the launch date?" ``current_time`` (whose output became the
answer). ``SourceRouter.route`` decides first, cheaply and visibly
(``SourceRouted``, shown under the reply), and the turn consults only the
chosen source:

1. **Forced**: ``@docs``, ``@chats``, ``@memory``, ``@none``, ``@tool`` /
   ``@tool:<name>`` (and ``@folder``, which forces documents).
2. **Cues** (``routing_cues.CUES``): phrases such as "we discussed", "what
   time is it", "save a note that"; arithmetic the calculator accepts.
   A side-effect tool is reachable only through an imperative cue. Then
   the index: a passage close to the question (``PASSAGE_HIT``, one KNN
   row) means documents.
3. **Similarity**: MiniLM cosine with labelled examples per source
   (``routing_cues.EXAMPLES``) and, for tools the cues do not cover (MCP
   tools), with each read-only one's description and examples
   (``ToolRouter``). A tool must win by ``TOOL_SURE``; documents or none
   by ``SURE`` (``BY_SIMILARITY``; chats and memory need a cue).
4. **Unsure**: one grammar-constrained model call picks between the two
   closest sources that are not tools (``choose_with_model``); without a
   runtime that constrains output, the conservative default: documents
   when they are available and the text is a question, else none.

Availability is per source (``available``: source -> label, e.g.
``{"documents": "python docs", "tool": "6 tools"}``): a source that is not
available is never chosen, except by force. Chats and memory become
available when their stores register a check (``ChatService.source_checks``).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from backend.chat.routing_cues import CUES, EXAMPLES, FOLLOW_UP, FOLLOW_UP_WORDS, SOURCES
from backend.common.events import SourceRouted, Usage
from backend.knowledge.embedder import Embedder
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import (
    ChatMessage,
    GenerationParams,
    GenerationRequest,
    Runtime,
    complete,
)
from backend.runtimes.logged import logged_inputs
from backend.store.request_inputs import RunInputs
from backend.tools.base import Tool
from backend.tools.calling import ToolRouter
from backend.tools.spans import span_choices

SURE = 0.06
"""Cosine margin of the best source over the next one above which no
model call is made."""
TOOL_SURE = 0.15
"""A read-only tool found by similarity alone must beat every other source
by this much: a tool's output replaces the answer, so it needs to be
clearly asked for ("What's the weather in Paris?" +0.2 for a weather
tool; "When is the launch date?" is no closer to the clock than to
document lookups)."""
PASSAGE_HIT = 0.5
"""A question this close (MiniLM cosine) to a passage of the documents in
scope goes to them whatever the examples say: the examples cannot know
that the user keeps notes on cats."""
NONE_SURE = 0.15
"""With documents available, "none" by similarity needs this margin:
missing the user's documents costs more than an extra retrieval ("How
long do cats sleep?" reads as general knowledge, yet the user keeps notes
on their cats)."""
CUE_TOOLS = frozenset(n for cue in CUES for n in cue.tools) | {"calculator", "search_documents"}
"""Built-in tools reached through cues only (``search_documents`` through
the documents source): their descriptions ("current date and time", "files
in your folders") are close to many plain questions that mention a date or
a file, so similarity would offer them where they do not belong. Similarity
can route to the tools the cues do not know (MCP tools)."""
BY_SIMILARITY = ("documents", "none")
"""Sources similarity alone can choose. Chats and memory need a cue ("we
discussed", "do you remember my"): their examples ("the book you
recommended") are close to plain requests ("recommend a book")."""
FORCE_TOKENS = {"docs": "documents", "documents": "documents", "chats": "chats"}
FORCE_TOKENS |= {"memory": "memory", "none": "none", "tool": "tool", "tools": "tool"}
_FORCE = re.compile(r"(?<!\S)@(docs|documents|chats|memory|none|tools?)(?::([\w.\-]+))?(?!\S)")
_QUESTION = re.compile(
    r"\?\s*$|^\W*(?:what|when|where|who|whom|which|why|how|is|are|do|does|did|can|should|"
    r"list|show|find|explain)\b",
    re.I,
)
DECISION_TOKENS = 12


def force_token(text: str) -> tuple[str | None, str]:
    """The ``@docs``/``@chats``/``@memory``/``@none``/``@tool[:name]`` token of
    ``text`` (the first one) as ``"documents"``, ``"tool:calculator"``, ...,
    and the text without it."""
    match = _FORCE.search(text)
    if match is None:
        return None, text
    source = FORCE_TOKENS[match.group(1).lower()]
    if source == "tool" and match.group(2):
        source = f"tool:{match.group(2)}"
    stripped = (text[: match.start()] + text[match.end() :]).strip()
    return source, re.sub(r"[ \t]{2,}", " ", stripped)


def check_force(force: str) -> None:
    """Raises ValueError unless ``force`` names a source (``tool:<name>`` is
    checked against the tools when the turn routes)."""
    source = force.partition(":")[0]
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}: one of {', '.join(SOURCES)}")


@dataclass(frozen=True)
class Routed:
    """A decision, with the cost of the hidden model call when one was made."""

    event: SourceRouted
    usage: Usage | None = None
    ms: float = 0.0
    inputs: RunInputs | None = None
    """That call as sent and its output (the request log keeps it)."""


class SourceRouter:
    """Routes questions to sources (see the module docstring). One per
    backend: the example embeddings are computed once, lazily."""

    def __init__(self, embedder: Embedder, tool_router: ToolRouter | None = None) -> None:
        self.embedder = embedder
        self.tool_router = tool_router or ToolRouter(embedder)
        self._examples: dict[str, np.ndarray] | None = None
        self._lock = threading.Lock()

    def _embed(self, texts: list[str]) -> np.ndarray:
        vectors = np.asarray(self.embedder.embed(texts), dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def _example_vectors(self) -> dict[str, np.ndarray]:
        with self._lock:
            if self._examples is None:
                texts = [t for s in EXAMPLES for t in EXAMPLES[s]]
                vectors = self._embed(texts)
                out, at = {}, 0
                for s, examples in EXAMPLES.items():
                    out[s] = vectors[at : at + len(examples)]
                    at += len(examples)
                self._examples = out
            return self._examples

    def scores(
        self, question: str, available: Mapping[str, str], tools: Sequence[Tool]
    ) -> tuple[dict[str, float], str | None]:
        """Best cosine per available source, and the best read-only tool."""
        examples = self._example_vectors()
        query = self._embed([question])[0]
        out = {
            s: float(np.max(examples[s] @ query)) for s in EXAMPLES if s in available or s == "none"
        }
        readable = [t for t in tools if not t.side_effects and t.name not in CUE_TOOLS]
        best_tool = None
        if "tool" in available and readable:
            shortlist = self.tool_router.shortlist(question, readable, n=1)
            best_tool, out["tool"] = shortlist.tools[0]
        return out, best_tool

    def route(
        self,
        question: str,
        available: Mapping[str, str],
        *,
        tools: Sequence[Tool] = (),
        previous: str | None = None,
        force: str | None = None,
        runtime: Runtime | None = None,
        model: ModelInfo | None = None,
        cancel: threading.Event | None = None,
        probe: Callable[[str], float] | None = None,
    ) -> Routed:
        """Decide the source of ``question``; ``available`` maps each usable
        source to its label (``tool`` must be there for any tool to be
        chosen, ``none`` always is); ``force`` is a ``force_token``;
        ``runtime``/``model`` allow one constrained model call when unsure;
        ``probe`` gives the best cosine of a passage of the documents in
        scope (one KNN row), the evidence that they cover the question.

        Raises:
            ModelError: the runtime failed during that call.
        """
        avail = {"none": "", **available}
        if force is not None:
            return Routed(_forced(force, avail, tools))
        q = question.strip()
        if previous and FOLLOW_UP.match(q) and len(q.split()) <= FOLLOW_UP_WORDS:
            before = self.route(previous, available, tools=tools).event
            if before.source != "none":
                return Routed(replace(before, reason="follow-up: " + before.reason, scores={}))
        by_cue = _by_cue(q, avail, tools)
        if by_cue is not None:
            return Routed(by_cue)
        scores, best_tool = self.scores(q, avail, tools)
        rounded = {s: round(v, 3) for s, v in scores.items()}
        if probe is not None and "documents" in avail:
            hit = probe(q)
            rounded["passage"] = round(hit, 3)
            if hit >= PASSAGE_HIT:
                reason = f"a passage of your documents is close ({hit:.2f})"
                return Routed(_decided("documents", reason, avail, (), rounded))
        if best_tool is not None:
            others = max(v for s, v in scores.items() if s != "tool")
            margin = scores["tool"] - others
            if margin >= TOOL_SURE:
                reason = f"closest to {best_tool}'s examples (+{margin:.2f})"
                return Routed(_decided("tool", reason, avail, (best_tool,), rounded))
            scores.pop("tool")
        ranked = sorted((s for s in scores if s in BY_SIMILARITY), key=lambda s: -scores[s])
        top = ranked[0]
        second = ranked[1] if len(ranked) > 1 else None
        needed = NONE_SURE if top == "none" and "documents" in avail else SURE
        if second is None or scores[top] - scores[second] >= needed:
            margin_text = f" (+{scores[top] - scores[second]:.2f})" if second else ""
            reason = f"closest to {top} examples{margin_text}"
            return Routed(_decided(top, reason, avail, (), rounded))
        if runtime is not None and model is not None and runtime.supports_json_schema:
            started = time.perf_counter()
            chosen, usage, inputs = choose_with_model(runtime, model, q, [top, second], cancel)
            ms = (time.perf_counter() - started) * 1000
            if chosen is not None:
                reason = f"unsure between {top} and {second}; the model chose {chosen}"
                event = _decided(chosen, reason, avail, (), rounded, model_call=True)
                return Routed(event, usage, ms, inputs)
        source = "documents" if "documents" in avail and _QUESTION.search(q) else "none"
        reason = f"unsure between {top} and {second}; default {source}"
        return Routed(_decided(source, reason, avail, (), rounded))


def _decided(
    source: str,
    reason: str,
    avail: Mapping[str, str],
    tools: tuple[str, ...] = (),
    scores: dict[str, float] | None = None,
    *,
    forced: bool = False,
    model_call: bool = False,
) -> SourceRouted:
    label = ", ".join(tools) if source == "tool" and tools else avail.get(source, "")
    return SourceRouted(
        source=source,
        reason=reason,
        label=label,
        forced=forced,
        tools=tools,
        scores=scores or {},
        model_call=model_call,
    )


def _forced(force: str, avail: Mapping[str, str], tools: Sequence[Tool]) -> SourceRouted:
    source, _, name = force.partition(":")
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}: one of {', '.join(SOURCES)}")
    names: tuple[str, ...] = ()
    if source == "tool":
        known = [t.name for t in tools]
        names = tuple(n for n in known if n == name) if name else tuple(known)
    reason = f"forced by @{force}"
    if source == "tool" and not names:
        reason += f" (no tool named {name})" if name else " (tools are off)"
    if source != "none" and source not in avail:
        reason += f" ({source} not available here)"
    return _decided(source, reason, avail, names, forced=True)


def _by_cue(q: str, avail: Mapping[str, str], tools: Sequence[Tool]) -> SourceRouted | None:
    for cue in CUES:
        if not cue.pattern.search(q):
            continue
        if cue.source == "tool":
            names = tuple(t.name for t in tools if t.name in cue.tools)
            if names and "tool" in avail:
                return _decided("tool", cue.why, avail, names)
        elif cue.source in avail:
            return _decided(cue.source, cue.why, avail)
        elif cue.source == "documents" and "tool" in avail:
            # documents off for this chat: the search tool can still look
            search = tuple(t.name for t in tools if t.name == "search_documents")
            if search:
                return _decided("tool", cue.why + " (through search_documents)", avail, search)
    calc = [t for t in tools if t.name == "calculator"]
    if calc and "tool" in avail and span_choices(calc[0], q):
        return _decided("tool", "has arithmetic", avail, ("calculator",))
    return None


_DESCRIPTIONS = {
    "documents": "the user's own files and notes (policies, projects, manuals, code docs)",
    "chats": "earlier conversations between the user and the assistant",
    "memory": "personal facts the user asked the assistant to remember",
    "none": "general knowledge, chit-chat or writing, no lookup needed",
}


def choose_with_model(
    runtime: Runtime,
    model: ModelInfo,
    question: str,
    candidates: list[str],
    cancel: threading.Event | None = None,
) -> tuple[str | None, Usage | None, RunInputs]:
    """One greedy call constrained to ``{"source": <one of candidates>}``:
    the source (None when the reply does not parse: a runtime without a
    grammar), the call's usage, and the call as the request log keeps it."""
    lines = ["Which source answers the user's question? Reply with JSON."]
    lines += [f"- {c}: {_DESCRIPTIONS.get(c, c)}" for c in candidates]
    messages = [ChatMessage("system", "\n".join(lines))]
    for c in candidates:
        messages += [
            ChatMessage("user", EXAMPLES[c][0]),
            ChatMessage("assistant", json.dumps({"source": c})),
        ]
    messages.append(ChatMessage("user", question))
    schema = {
        "type": "object",
        "properties": {"source": {"enum": candidates}},
        "required": ["source"],
        "additionalProperties": False,
    }
    params = GenerationParams(
        max_tokens=DECISION_TOKENS, temperature=0.0, seed=0, json_schema=json.dumps(schema)
    )
    request = GenerationRequest(model, messages, params)
    raw, usage = complete(runtime, request, cancel)
    inputs = logged_inputs(request, raw)
    try:
        data = json.loads(raw[raw.find("{") : raw.rfind("}") + 1])
    except json.JSONDecodeError:
        return None, usage, inputs
    chosen = data.get("source") if isinstance(data, dict) else None
    return (chosen if chosen in candidates else None), usage, inputs
