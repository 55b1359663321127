"""ChatGPT's export (``conversations.json`` in the zip from Settings › Data
controls) as portable trees (``backend.transfer.document``).

The file is a list of conversations, each ``{"title", "create_time",
"update_time", "mapping": {node id: {"message", "parent", "children"}},
"current_node"}``. A node's ``message`` has ``author.role``,
``content.parts`` (text, or objects for images and files), ``create_time``
and ``metadata.model_slug``. The whole tree is imported: every user and
assistant message with text becomes a message, its branches become
branches, and the path to ``current_node`` (what ChatGPT showed last)
becomes the active branch. Nodes that are no conversation -- the empty
root, system and tool messages, hidden context, calls addressed to a tool
(``recipient`` other than ``all``), messages with no text -- are skipped,
their children hung on the nearest kept ancestor. Non-text parts are left
out. Model names are kept per reply, but the conversation itself gets the
default model (ChatGPT's models are not local ones).
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from backend.transfer.document import Tree
from backend.transfer.errors import ImportFormatError

NODE = {
    "type": "object",
    "properties": {
        "parent": {"type": ["string", "null"]},
        "children": {"type": "array", "items": {"type": "string"}},
        "message": {
            "anyOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "properties": {
                        "author": {
                            "type": "object",
                            "properties": {"role": {"type": "string"}},
                            "required": ["role"],
                        },
                        "content": {"type": "object"},
                        "create_time": {"type": ["number", "null"]},
                    },
                    "required": ["author"],
                },
            ]
        },
    },
}
CONVERSATION = {
    "type": "object",
    "properties": {
        "title": {"type": ["string", "null"]},
        "create_time": {"type": ["number", "null"]},
        "update_time": {"type": ["number", "null"]},
        "current_node": {"type": ["string", "null"]},
        "mapping": {"type": "object", "additionalProperties": NODE},
    },
    "required": ["mapping"],
}
SCHEMA = {"type": "array", "items": CONVERSATION}


def is_chatgpt(data: Any) -> bool:
    """A list of conversations with a ``mapping`` (or one such conversation)."""
    items = data if isinstance(data, list) else [data]
    return bool(items) and all(isinstance(c, dict) and "mapping" in c for c in items)


def _stamp(seconds: Any, fallback: str) -> str:
    if not isinstance(seconds, int | float):
        return fallback
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def message_text(message: dict[str, Any]) -> str:
    """The text of a message's content (``parts``, or ``text`` for code)."""
    content = message.get("content") or {}
    parts = content.get("parts")
    if isinstance(parts, list):
        return "\n".join(p for p in parts if isinstance(p, str)).strip()
    text = content.get("text")
    return text.strip() if isinstance(text, str) else ""


def _kept(message: dict[str, Any] | None) -> bool:
    if not message or message["author"]["role"] not in ("user", "assistant"):
        return False
    if message.get("recipient", "all") != "all":
        return False
    if (message.get("metadata") or {}).get("is_visually_hidden_from_conversation"):
        return False
    return bool(message_text(message))


def convert(conv: dict[str, Any], now: str) -> Tree:
    """One ChatGPT conversation as a tree (possibly with no messages)."""
    mapping: dict[str, Any] = conv["mapping"]
    created = _stamp(conv.get("create_time"), now)
    local: dict[str, int] = {}  # kept node -> message id
    messages: list[dict[str, Any]] = []
    seen: set[str] = set()
    roots = [k for k, n in mapping.items() if n.get("parent") not in mapping]
    stack: list[tuple[str, int | None]] = [(k, None) for k in reversed(roots)]
    while stack:  # depth first, children in their listed order
        key, parent = stack.pop()
        if key in seen or key not in mapping:
            continue
        seen.add(key)
        node = mapping[key]
        message = node.get("message")
        if _kept(message):
            local[key] = len(messages) + 1
            messages.append(
                {
                    "id": local[key],
                    "parent": parent,
                    "role": message["author"]["role"],
                    "content": message_text(message),
                    "model": (message.get("metadata") or {}).get("model_slug")
                    if message["author"]["role"] == "assistant"
                    else None,
                    "status": "complete",
                    "created_at": _stamp(message.get("create_time"), created),
                    "selected_child": None,
                    "feedback": None,
                    "usage": None,
                    "sources": [],
                    "tool_calls": [],
                }
            )
            parent = local[key]
        stack += [(child, parent) for child in reversed(node.get("children") or [])]
    root = None
    path: list[int] = []  # the kept nodes from current_node up to the root
    current: Any = conv.get("current_node")
    walked: set[str] = set()
    while isinstance(current, str) and current in mapping and current not in walked:
        walked.add(current)
        if current in local:
            path.append(local[current])
        current = mapping[current].get("parent")
    path.reverse()
    if path:
        root = path[0]
        for above, below in pairwise(path):
            messages[above - 1]["selected_child"] = below
    return {
        "title": (conv.get("title") or "").strip() or "Imported chat",
        "model": None,
        "preset": None,
        "system_prompt": "",
        "created_at": created,
        "updated_at": _stamp(conv.get("update_time"), created),
        "use_documents": None,
        "use_tools": None,
        "folder_scope": None,
        "selected_root": root,
        "messages": messages,
    }


def read_chatgpt(data: Any, now: str) -> list[Tree]:
    """The conversations of a ChatGPT export that have any messages.

    Raises:
        ImportFormatError: the export is malformed (names where), or no
            conversation in it has a message to import.
    """
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for

    items = data if isinstance(data, list) else [data]
    error = best_match(validator_for(SCHEMA)(SCHEMA).iter_errors(items))
    if error is not None:
        raise ImportFormatError(f"ChatGPT export, {error.json_path}: {error.message}")
    trees = [convert(c, now) for c in items]
    kept = [t for t in trees if t["messages"]]
    if not kept:
        raise ImportFormatError("the ChatGPT export has no messages to import")
    return kept
