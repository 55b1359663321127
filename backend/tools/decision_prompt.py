"""The hidden prompt of the JSON tool decision (``backend.tools.calling``):
the offered tools as signatures, one worked example each, then the
conversation. Models that take tools natively get their own template's
rendering instead (``backend.runtimes.native_tools``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from backend.runtimes.base import ChatMessage
from backend.tools.base import Tool, ToolExample

NO_TOOL = "none"
_NONE_SHOT = ToolExample("Write a limerick about a cat.", {})


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
