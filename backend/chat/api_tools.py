"""Tool decisions for API requests: the client's tools, the client runs them.

OpenAI- and Ollama-style clients send their own tools (JSON schemas) with a
request and expect a *call* back, which they run themselves and answer
with a ``tool`` message. So nothing here executes anything: the request's
tools become ``Tool`` objects (``backend.server.client_tools``) and the
model decides exactly as it does for the assistant's own tools
(``backend.tools.calling.decide``: the MiniLM router, then the
grammar-constrained JSON decision, or the model's native tool format when
``runtime.native_tools(model)``).

``tool_choice`` maps onto the decision as follows:

- ``auto``: ``decide`` with the router (a request the router places
  among plain chat costs no model call and gets a text answer);
- ``required`` / a named function: a call is forced (``forced_decision``):
  the named tool, or the router's top tool when several are offered (small
  models choose badly among many, ``backend.tools.calling``); the model
  only writes the arguments, and "none" is not an option;
- ``none``: no decision at all (the server passes no ``ApiTools``).

On the JSON decision (models without a native tool format: the small
ones), every plain string argument of a client tool is a *span argument*
(``Tool.span_arguments``, ``backend.tools.spans``): its value is copied
from the user's request rather than written. Measured on the bundled
SmolLM2 with a client ``calculator(expression)`` tool: writing freely, the
grammar-constrained model never closed the string for "what is 1234*5678"
(``"1234*5678}}`` then text until the token limit, so no call), while as a
span it picks ``1234*5678``. The price: such an argument can only be words
of the request. Native-format models write their arguments freely.

The decision sees the user's and assistant's own words only
(``ApiTools.conversation``), never tool results: like the chat's tool loop,
untrusted text cannot steer a decision.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass, field

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
from backend.tools.calling import (
    DECISION_TOKENS,
    NATIVE_SYSTEM,
    Decision,
    ToolRouter,
    decide,
    decision_schema,
    parse_decision,
)
from backend.tools.decision_prompt import decision_messages

RECENT_TURNS = 4
"""Messages the decision sees, as in the chat's tool loop."""


class ToolsUnsupportedError(ValueError):
    """A call was required but the model can neither constrain its output
    to a schema nor take tools natively."""


@dataclass
class ApiTools:
    """The client's tools for one request."""

    tools: list[Tool]
    required: bool = False
    """``tool_choice`` ``required`` or a named function: a call is forced."""
    conversation: list[ChatMessage] = field(default_factory=list)
    """The user's and assistant's own messages (no tool results), oldest
    first, ending with the message to decide for."""


def can_call_tools(runtime: Runtime, model: ModelInfo) -> bool:
    """Same rule as chat: free-form calls do not work on small models."""
    return runtime.supports_json_schema or runtime.native_tools(model)


def with_spans(tool: Tool) -> Tool:
    """``tool`` with its plain top-level string arguments (no enum, const
    or pattern) copied from the request instead of written."""
    names = frozenset(
        name
        for name, prop in tool.parameters.get("properties", {}).items()
        if isinstance(prop, dict)
        and prop.get("type") == "string"
        and not {"enum", "const", "pattern", "format"} & prop.keys()
    )
    return dataclasses.replace(tool, span_arguments=names) if names else tool


def decide_api(
    runtime: Runtime,
    model: ModelInfo,
    api: ApiTools,
    router: ToolRouter | None,
    cancel: threading.Event | None = None,
) -> Decision:
    """The decision for the last user message of ``api.conversation``.

    Raises:
        ModelError: the runtime failed.
    """
    recent = [m for m in api.conversation if m.role in ("user", "assistant")][-RECENT_TURNS:]
    asked = [m.content for m in api.conversation if m.role == "user"]
    if not asked or not api.tools:
        return Decision(None)
    tools = api.tools
    if not runtime.native_tools(model):
        tools = [with_spans(t) for t in tools]
    if not api.required:
        return decide(
            runtime,
            model,
            tools,
            recent,
            router=router,
            route_text=asked[-1],
            previous_text=asked[-2] if len(asked) > 1 else None,
            cancel=cancel,
        )
    tool = tools[0]
    shortlist = None
    if len(tools) > 1 and router is not None:
        shortlist = router.shortlist(asked[-1], tools, n=1)
        tool = next(t for t in tools if t.name == shortlist.tools[0][0])
    decision = forced_decision(runtime, model, tool, recent, asked[-1], cancel)
    decision.shortlist = shortlist
    return decision


def forced_decision(
    runtime: Runtime,
    model: ModelInfo,
    tool: Tool,
    conversation: list[ChatMessage],
    request_text: str,
    cancel: threading.Event | None = None,
) -> Decision:
    """A call to ``tool`` for ``request_text`` (the user's last message): the
    JSON decision without its "none" branch, or the native format with
    ``tool_choice="required"``.

    Raises:
        ModelError: the runtime failed.
    """
    if runtime.native_tools(model):
        params = GenerationParams(max_tokens=DECISION_TOKENS, temperature=0.0, seed=0)
        messages = conversation
        if not any(m.role == "system" for m in conversation):
            messages = [ChatMessage("system", NATIVE_SYSTEM), *conversation]
        request = GenerationRequest(
            model,
            messages,
            params,
            tools=openai_tools([(tool.name, tool.description, tool.parameters)]),
            tool_choice="required",
        )
        text, calls, usage = complete_calls(runtime, request, cancel)
        chosen = next((c for c in calls if c.name == tool.name), None)
        raw = text + "".join(json.dumps({"name": c.name, "arguments": c.arguments}) for c in calls)
        call = ToolCall(chosen.name, dict(chosen.arguments)) if chosen else None
        return Decision(call, raw=raw, offered=[tool.name], usage=usage)
    schema = decision_schema([tool], request_text, allow_none=False)
    json_params = GenerationParams(
        max_tokens=DECISION_TOKENS, temperature=0.0, seed=0, json_schema=json.dumps(schema)
    )
    request = GenerationRequest(model, decision_messages([tool], conversation), json_params)
    raw, usage = complete(runtime, request, cancel)
    return Decision(parse_decision(raw, [tool]), raw=raw, offered=[tool.name], usage=usage)
