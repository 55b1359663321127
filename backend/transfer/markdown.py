"""A conversation as Markdown for reading and sharing: YAML front matter
(title, model, preset, dates, message count, token totals), then the
active branch, each reply followed by the sources it cited.

Other branches, tool-call details and chunk text are left out: the JSON
export has everything (``backend.transfer.document``). The front matter's
strings are JSON strings, which YAML reads as double-quoted scalars, so a
title with a colon or a quote cannot break it.
"""

from __future__ import annotations

import json
from typing import Any

from backend.transfer.document import Tree, active_path

ROLES = {"user": "You", "assistant": "Assistant", "system": "System", "tool": "Tool"}
STATUS = {"cancelled": "stopped", "error": "failed", "streaming": "unfinished"}


def token_totals(tree: Tree) -> tuple[int, int]:
    """(prompt, completion) tokens over every message of every branch."""
    prompt = completion = 0
    for m in tree["messages"]:
        usage = m.get("usage") or {}
        prompt += int(usage.get("prompt_tokens", 0))
        completion += int(usage.get("completion_tokens", 0))
    return prompt, completion


def front_matter(tree: Tree, path: list[dict[str, Any]]) -> str:
    """``model`` is the conversation's, else (the default model) the one
    that wrote its latest reply."""
    prompt, completion = token_totals(tree)
    model = tree.get("model") or next((m["model"] for m in reversed(path) if m.get("model")), None)
    fields: list[tuple[str, Any]] = [
        ("title", tree["title"]),
        ("model", model),
        ("preset", tree.get("preset")),
        ("created", tree["created_at"]),
        ("updated", tree["updated_at"]),
        ("messages", len(path)),
        ("branches", branch_count(tree)),
    ]
    lines = ["---", *(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in fields)]
    lines += [
        "tokens:",
        f"  prompt: {prompt}",
        f"  completion: {completion}",
        f"  total: {prompt + completion}",
    ]
    if tree.get("system_prompt"):
        lines.append(f"system_prompt: {json.dumps(tree['system_prompt'], ensure_ascii=False)}")
    return "\n".join([*lines, "---"])


def branch_count(tree: Tree) -> int:
    """How many branches (leaves) the message tree has."""
    parents = {m.get("parent") for m in tree["messages"]}
    return sum(1 for m in tree["messages"] if m["id"] not in parents)


def source_line(s: dict[str, Any]) -> str:
    where = " › ".join(p for p in (s["path"], s.get("heading") or "") if p)
    page = f" (p. {s['page']})" if s.get("page") else ""
    return f"- [S{s['n']}] {where}{page}"


def sources_block(sources: list[dict[str, Any]]) -> str:
    """The cited sources; with none cited, those the answer matched; with
    neither, how many passages it was given."""
    cited = [s for s in sources if s.get("cited")]
    if cited:
        return "Sources:\n\n" + "\n".join(source_line(s) for s in cited)
    matched = [s for s in sources if s.get("matched")]
    if matched:
        return "Matched (not cited by the model):\n\n" + "\n".join(source_line(s) for s in matched)
    if sources:
        return f"_({len(sources)} passages retrieved; none cited)_"
    return ""


def heading(m: dict[str, Any]) -> str:
    parts = [ROLES.get(m["role"], m["role"])]
    if m["role"] == "assistant" and m.get("model"):
        parts.append(m["model"])
    parts.append(m["created_at"][:16].replace("T", " "))
    feedback = m.get("feedback") or {}
    if feedback.get("rating") == 1:
        parts.append("👍")
    elif feedback.get("rating") == -1:
        parts.append("👎")
    if feedback.get("edited_content") is not None:
        parts.append("edited")
    if m.get("status") in STATUS:
        parts.append(STATUS[m["status"]])
    return "## " + " · ".join(parts)


def render(tree: Tree) -> str:
    """One conversation as a Markdown document."""
    path = active_path(tree)
    blocks = [front_matter(tree, path), f"# {tree['title']}"]
    for m in path:
        edited = (m.get("feedback") or {}).get("edited_content")
        text = edited if edited is not None else m["content"]
        blocks += [heading(m), text.strip() or "_(empty)_"]
        cited = sources_block(m.get("sources") or [])
        if cited:
            blocks.append(cited)
    return "\n\n".join(blocks) + "\n"


def render_all(trees: list[Tree]) -> str:
    """Several conversations, one document after another."""
    return "\n".join(render(t) for t in trees)
