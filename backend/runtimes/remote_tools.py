"""Native tool calls through model servers (OpenAI-compatible and Ollama).

A server, not this process, knows whether a model can take tools: it renders
them through the model's chat template and parses the call out of the
reply. So the remote runtimes answer ``native_tools(model)`` with True and
let the server decide; a server that rejects tools for a model (Ollama:
``... does not support tools``; OpenAI-compatible servers: an HTTP 4xx/5xx)
becomes an ``ErrorEvent`` that says tools were the problem
(``tools_rejected``), and ``backend.tools.calling.decide`` raises it as a
``ModelError`` -- nothing is guessed.

* **OpenAI** streams a call in pieces: the first delta of a call carries its
  ``index``, ``id`` and ``function.name``, later ones more of
  ``function.arguments`` (a JSON string). ``StreamedCalls`` joins the pieces
  per index and parses the JSON once the stream ends; arguments that are
  not a JSON object (a reply cut off by ``max_tokens``, a server bug) are a
  ``ModelError`` with the call's name and the text received.
* ``tool_choice="required"`` is sent as OpenAI's ``"required"``, except with
  exactly one tool offered, where it is sent as that tool by name
  (``{"type": "function", "function": {"name": ...}}``). The two mean the
  same thing for one tool, and the named form is the one more servers
  enforce: llama-cpp-python's ``chatml-function-calling`` handler constrains
  the arguments with a grammar for a named tool but rejects ``"required"``.
* **Ollama** returns whole calls in ``message.tool_calls`` with the
  arguments already a dict and no call id (ids are ``call_<n>`` here, as in
  the llama.cpp runtime). Ollama has no ``tool_choice``: ``required`` is
  best effort there (the model may still answer in text).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from backend.common.errors import ModelError
from backend.common.events import ToolCallEvent

ARGUMENTS_SHOWN = 200
"""How much of unparseable arguments an error quotes."""


def openai_tool_choice(tools: Sequence[dict[str, Any]], choice: str) -> Any:
    """The ``tool_choice`` to send for ``GenerationRequest.tool_choice``."""
    if choice != "required":
        return "auto"
    if len(tools) == 1:
        return {"type": "function", "function": {"name": tools[0]["function"]["name"]}}
    return "required"


def tools_rejected(where: str, model: str, detail: str) -> str:
    """The error for a server that refused a request because it had tools."""
    return (
        f"{where} rejected tool calling for model {model!r}: {detail}. The model may not "
        "support tools on that server; pick another model or turn tools off for this chat"
    )


@dataclass
class _Partial:
    call_id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class StreamedCalls:
    """The tool calls of one streamed OpenAI reply, joined from their deltas."""

    def __init__(self) -> None:
        self._calls: dict[int, _Partial] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(self, deltas: Iterable[Any]) -> None:
        """Take a chunk's ``choice.delta.tool_calls``."""
        for delta in deltas:
            index = getattr(delta, "index", None)
            partial = self._calls.setdefault(
                int(index) if index is not None else len(self._calls), _Partial()
            )
            if getattr(delta, "id", None):
                partial.call_id = str(delta.id)
            function = getattr(delta, "function", None)
            if function is None:
                continue
            if function.name:
                partial.name += function.name if partial.name != function.name else ""
            if function.arguments:
                partial.arguments.append(function.arguments)

    def events(self) -> list[ToolCallEvent]:
        """The calls in index order.

        Raises:
            ModelError: a call has no name, or its arguments are not a JSON object.
        """
        out: list[ToolCallEvent] = []
        for n, (_, partial) in enumerate(sorted(self._calls.items())):
            if not partial.name:
                raise ModelError(f"the server sent tool call {n} without a function name")
            text = "".join(partial.arguments).strip() or "{}"
            try:
                arguments = json.loads(text)
            except json.JSONDecodeError as err:
                shown = text if len(text) <= ARGUMENTS_SHOWN else text[:ARGUMENTS_SHOWN] + "…"
                raise ModelError(
                    f"the arguments of the call to {partial.name!r} are not valid JSON "
                    f"({err.msg} at character {err.pos}; the reply may have been cut off "
                    f"by max_tokens): {shown}"
                ) from None
            if not isinstance(arguments, dict):
                raise ModelError(
                    f"the arguments of the call to {partial.name!r} are not a JSON object: "
                    f"{text[:ARGUMENTS_SHOWN]}"
                )
            out.append(ToolCallEvent(partial.name, arguments, partial.call_id or f"call_{n}"))
        return out


def ollama_calls(tool_calls: Iterable[Any], first: int = 0) -> list[ToolCallEvent]:
    """``message.tool_calls`` of an Ollama chunk as events (ids from ``first``).

    Raises:
        ModelError: a call has no name or its arguments are not an object.
    """
    out: list[ToolCallEvent] = []
    for n, call in enumerate(tool_calls, start=first):
        function = call.function
        if not function.name:
            raise ModelError(f"the Ollama server sent tool call {n} without a function name")
        arguments = function.arguments
        if isinstance(arguments, str):  # some servers send a JSON string here too
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                arguments = None
        if not isinstance(arguments, dict):
            raise ModelError(
                f"the arguments of the call to {function.name!r} are not a JSON object: "
                f"{str(function.arguments)[:ARGUMENTS_SHOWN]}"
            )
        out.append(ToolCallEvent(str(function.name), dict(arguments), f"call_{n}"))
    return out
