"""A request's ``messages`` as the runtime takes them, tool turns included.

Local chat templates know ``system``, ``user`` and ``assistant``; the tool
exchanges a client sends back (an assistant message with ``tool_calls``,
then ``tool`` messages with the results) are rewritten the way the chat's
tool loop feeds results to the model (``backend.chat.tool_loop.results_turn``):
the results go into the user turn they answer, in front of the question,
each fenced as untrusted data (``neutralise``d: a result cannot close its
fence or open a chat role). The assistant's call messages themselves are
left out (the results name the tool and its arguments), so the prompt keeps
alternating user/assistant as templates expect.

Results are matched to calls by ``tool_call_id`` (OpenAI), else by
``tool_name`` / ``name`` (Ollama), else in order.

``Messages.own`` is the conversation without any tool result, what a tool
decision may see; ``ends_with_results`` (the last message is a ``tool``
result) means the model answers from the results instead of deciding again,
as the tool loop stops after a successful routed call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

from backend.chat.tool_loop import results_turn
from backend.common.events import ToolCallFinished
from backend.runtimes.base import ChatMessage, Role
from backend.server.errors import ApiError

ROLES = ("system", "user", "assistant", "tool", "developer")


@dataclass
class Messages:
    prompt: list[ChatMessage]
    own: list[ChatMessage]
    ends_with_results: bool = False


def content_text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # OpenAI content parts
        texts = []
        for part in value:
            if not isinstance(part, dict) or not isinstance(part.get("text", ""), str):
                raise ApiError(422, f"{where}: content parts must be objects with 'text'")
            if part.get("type", "text") == "text":
                texts.append(part.get("text", ""))
        return "".join(texts)
    raise ApiError(422, f"{where}: 'content' must be a string or a list of parts")


@dataclass
class _Call:
    call_id: str
    name: str
    arguments: dict[str, Any]


def _calls(raw: Any, where: str) -> list[_Call]:
    if not isinstance(raw, list):
        raise ApiError(422, f"{where}.tool_calls must be a list")
    out = []
    for j, c in enumerate(raw):
        at = f"{where}.tool_calls[{j}]"
        fn = c.get("function") if isinstance(c, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise ApiError(422, f"{at} must be an object with function.name")
        args = fn.get("arguments")
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except json.JSONDecodeError:
                raise ApiError(422, f"{at}.function.arguments is not valid JSON") from None
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ApiError(422, f"{at}.function.arguments must be a JSON object")
        call_id = c.get("id")
        out.append(_Call(call_id if isinstance(call_id, str) else "", fn["name"], args))
    return out


@dataclass
class _Builder:
    prompt: list[ChatMessage] = field(default_factory=list)
    own: list[ChatMessage] = field(default_factory=list)
    waiting: list[_Call] = field(default_factory=list)
    results: list[ToolCallFinished] = field(default_factory=list)

    def result(self, m: dict[str, Any], text: str) -> None:
        wanted_id = m.get("tool_call_id")
        wanted_name = m.get("tool_name") or m.get("name")
        call = next((c for c in self.waiting if wanted_id and c.call_id == wanted_id), None)
        if call is None and isinstance(wanted_name, str):
            call = next((c for c in self.waiting if c.name == wanted_name), None)
            call = call or _Call("", wanted_name, {})
        if call is None:
            call = self.waiting[0] if self.waiting else _Call("", "tool", {})
        if call in self.waiting:
            self.waiting.remove(call)
        step = len(self.results) + 1
        self.results.append(
            ToolCallFinished(call.call_id, step, call.name, call.arguments, output=text)
        )

    def flush(self) -> None:
        """Fold the pending results into the user turn they answer."""
        if not self.results:
            return
        users = [i for i, m in enumerate(self.prompt) if m.role == "user"]
        at = users[-1] if users else None
        if at is None or any(m.role == "assistant" for m in self.prompt[at + 1 :]):
            self.prompt.append(ChatMessage("user", results_turn("", self.results).strip()))
        else:
            turn = results_turn(self.prompt[at].content, self.results)
            self.prompt[at] = ChatMessage("user", turn)
        self.results = []


def read_messages(body: dict[str, Any]) -> Messages:
    """The request's messages, tool turns folded in (see the module doc).

    Raises:
        ApiError: 422 for a malformed message.
    """
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise ApiError(422, "'messages' must be a non-empty list")
    b = _Builder()
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise ApiError(422, f"{where} must be an object with a role in {', '.join(ROLES)}")
        role, text = m["role"], content_text(m.get("content"), where)
        if role == "tool":
            b.result(m, text)
            continue
        if role == "assistant" and m.get("tool_calls"):
            # left out: its results carry the tool and arguments; results
            # of several steps all go into the same user turn
            b.waiting += _calls(m["tool_calls"], where)
            continue
        b.flush()
        b.waiting = []
        message = ChatMessage(cast(Role, "system" if role == "developer" else role), text)
        b.prompt.append(message)
        b.own.append(message)
    b.flush()
    if not any(m.content.strip() for m in b.prompt):
        raise ApiError(422, "'messages' has no text")
    return Messages(b.prompt, b.own, ends_with_results=raw[-1].get("role") == "tool")
