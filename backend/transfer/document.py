"""Our JSON export: a versioned envelope around portable conversation trees
(``backend.store.transfer``), and the checks that make reading it all or
nothing.

    {"format": "local-assistant.conversations", "version": 1,
     "exported_at": "...", "conversations": [tree, ...]}

A tree holds every branch (messages numbered 1.., ``parent`` and the
``selected_root``/``selected_child`` pointers of the active branch), the
feedback on each reply (rating, the user's edited version), the sources it
was given and the tool calls it made, and its token use: what the store
keeps, minus database ids, so an export imported into another data folder
exports again to the same JSON. ``SCHEMA`` is the JSON Schema of a file;
``read_document`` also checks what a schema cannot (ids unique, parents and
pointers real, no cycles) and orders each tree's messages parents first.
"""

from __future__ import annotations

import json
from typing import Any

from backend.transfer.errors import ImportFormatError

FORMAT = "local-assistant.conversations"
VERSION = 1

Tree = dict[str, Any]

_STR = {"type": "string"}
_OPT_STR = {"type": ["string", "null"]}
_OPT_BOOL = {"type": ["boolean", "null"]}
_OPT_ID = {"type": ["integer", "null"], "minimum": 1}
_COUNT = {"type": "integer", "minimum": 0}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


SOURCE = _object(
    {
        "n": {"type": "integer", "minimum": 1},
        "path": _STR,
        "heading": _STR,
        "page": {"type": ["integer", "null"]},
        "start": {"type": "integer"},
        "end": {"type": "integer"},
        "text": _STR,
        "score": {"type": "number"},
        "flags": {"type": "array", "items": _STR},
        "cited": {"type": "boolean"},
        "matched": {"type": "boolean"},
    },
    ["n", "path", "text"],
)
TOOL_CALL = _object(
    {
        "call_id": _STR,
        "step": {"type": "integer"},
        "name": _STR,
        "arguments": {"type": "object"},
        "output": _STR,
        "error": _OPT_STR,
        "ms": {"type": "number"},
        "side_effects": {"type": "boolean"},
        "approved": _OPT_BOOL,
        "provenance": {"type": "array", "items": _STR},
    },
    ["step", "name", "arguments"],
)
MESSAGE = _object(
    {
        "id": {"type": "integer", "minimum": 1},
        "parent": _OPT_ID,
        "role": {"enum": ["system", "user", "assistant", "tool"]},
        "content": _STR,
        "model": _OPT_STR,
        "status": _STR,
        "created_at": _STR,
        "selected_child": _OPT_ID,
        "feedback": {
            "anyOf": [
                {"type": "null"},
                _object(
                    {
                        "rating": {"enum": [-1, 0, 1]},
                        "edited_content": _OPT_STR,
                        "updated_at": _STR,
                    },
                    ["rating", "updated_at"],
                ),
            ]
        },
        "usage": {
            "anyOf": [
                {"type": "null"},
                _object({"prompt_tokens": _COUNT, "completion_tokens": _COUNT}),
            ]
        },
        "sources": {"type": "array", "items": SOURCE},
        "tool_calls": {"type": "array", "items": TOOL_CALL},
    },
    ["id", "role", "content", "status", "created_at"],
)
CONVERSATION = _object(
    {
        "title": _STR,
        "model": _OPT_STR,
        "preset": _OPT_STR,
        "system_prompt": _STR,
        "created_at": _STR,
        "updated_at": _STR,
        "use_documents": _OPT_BOOL,
        "use_tools": _OPT_BOOL,
        "folder_scope": {"type": ["array", "null"], "items": _STR},
        "selected_root": _OPT_ID,
        "messages": {"type": "array", "items": MESSAGE},
    },
    ["title", "created_at", "updated_at", "messages"],
)
SCHEMA: dict[str, Any] = _object(
    {
        "format": {"const": FORMAT},
        "version": {"type": "integer", "minimum": 1},
        "exported_at": _STR,
        "conversations": {"type": "array", "items": CONVERSATION},
    },
    ["format", "version", "conversations"],
)


def write_document(trees: list[Tree], exported_at: str) -> str:
    """The JSON text of an export (indented, keys in a fixed order)."""
    doc = {"format": FORMAT, "version": VERSION, "exported_at": exported_at, "conversations": trees}
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def is_ours(data: Any) -> bool:
    return isinstance(data, dict) and data.get("format") == FORMAT


def read_document(data: Any) -> list[Tree]:
    """The trees of a parsed export, checked, messages parents first.

    Raises:
        ImportFormatError: a newer format version, a field of the wrong
            type, or a tree that does not hold together (names where).
    """
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for

    version = data.get("version") if isinstance(data, dict) else None
    if isinstance(version, int) and version > VERSION:
        raise ImportFormatError(
            f"the file is format version {version}; this version of the assistant reads "
            f"version {VERSION} (update it to import this file)"
        )
    error = best_match(validator_for(SCHEMA)(SCHEMA).iter_errors(data))
    if error is not None:
        raise ImportFormatError(f"{error.json_path}: {error.message}")
    return [check_tree(t, f"$.conversations[{i}]") for i, t in enumerate(data["conversations"])]


def check_tree(tree: Tree, where: str) -> Tree:
    """``tree`` with its messages parents first (file order otherwise).

    Raises:
        ImportFormatError: duplicate ids, a parent or pointer that names no
            message (or not a child), or a cycle.
    """
    messages = tree["messages"]
    by_id: dict[int, dict[str, Any]] = {}
    for m in messages:
        if m["id"] in by_id:
            raise ImportFormatError(f"{where}: two messages have the id {m['id']}")
        by_id[m["id"]] = m
    children: dict[int | None, list[int]] = {}
    for m in messages:
        parent = m.get("parent")
        if parent is not None and parent not in by_id:
            raise ImportFormatError(f"{where}: message {m['id']} has no parent {parent}")
        children.setdefault(parent, []).append(m["id"])
    for m in messages:
        child = m.get("selected_child")
        if child is not None and child not in children.get(m["id"], []):
            raise ImportFormatError(
                f"{where}: message {m['id']} selects {child}, which is not its child"
            )
    root = tree.get("selected_root")
    if root is not None and root not in children.get(None, []):
        raise ImportFormatError(f"{where}: selected_root {root} is not a first message")
    ordered: list[dict[str, Any]] = []
    placed: set[int] = set()
    for m in messages:
        chain: list[dict[str, Any]] = []
        seen: set[int] = set()
        current: dict[str, Any] | None = m
        while current is not None and current["id"] not in placed:
            if current["id"] in seen:
                raise ImportFormatError(f"{where}: message {m['id']} is its own ancestor")
            seen.add(current["id"])
            chain.append(current)
            parent = current.get("parent")
            current = None if parent is None else by_id[parent]
        for node in reversed(chain):
            placed.add(node["id"])
            ordered.append(node)
    return {**tree, "messages": ordered}


def active_path(tree: Tree) -> list[dict[str, Any]]:
    """The active branch, root first, by the store's rule: follow the
    selected pointers, and where one is missing take the last child."""
    messages = tree["messages"]
    by_id = {m["id"]: m for m in messages}
    children: dict[int | None, list[int]] = {}
    for m in messages:
        children.setdefault(m.get("parent"), []).append(m["id"])
    path: list[dict[str, Any]] = []
    current = tree.get("selected_root")
    if current not in by_id and children.get(None):
        current = children[None][-1]
    while current is not None and current in by_id and len(path) < len(messages):
        node = by_id[current]
        path.append(node)
        kids = children.get(current, [])
        nxt = node.get("selected_child")
        current = nxt if nxt in kids else (kids[-1] if kids else None)
    return path
