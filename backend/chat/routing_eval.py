"""Scoring source routing on a labelled question set (``assistant eval routing``).

A case is one JSON line::

    {"q": "When are expense reports due?", "source": "documents",
     "distractor": "a date question that needs no clock"}
    {"q": "Save a note that the vendor call moved", "source": "tool", "tool": "save_note"}

``source`` is one of ``documents``, ``chats``, ``memory``, ``tool``,
``none``; ``tool`` (optional) the tool expected among those the decision
lets the turn call; ``distractor`` (optional) says what might mislead.

*Plain* questions are those labelled ``documents`` or ``none``: they need
no tool. Counted against them, conservatively (nothing is run): a plain
question *triggers a tool* when it is routed to ``tool`` at all, and *a
side-effect tool* when the tools it would be offered include one. Every
source is treated as available, so the figures measure the decision, not
what the conversation happens to have.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.chat.routing_cues import SOURCES
from backend.common.events import SourceRouted

PLAIN = ("documents", "none")


class RoutingCaseError(ValueError):
    """A line of the question set is malformed (the message names it)."""


@dataclass(frozen=True)
class RoutingCase:
    q: str
    source: str
    tool: str | None = None
    distractor: str = ""

    @property
    def plain(self) -> bool:
        return self.source in PLAIN


def load_routing_cases(path: str | Path) -> list[RoutingCase]:
    """Cases from a JSONL file.

    Raises:
        RoutingCaseError: a line is not JSON, lacks ``q``, or has an unknown source.
        OSError: the file cannot be read.
    """
    cases = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as err:
            raise RoutingCaseError(f"line {number}: not JSON ({err.msg})") from None
        if not isinstance(data, dict) or not isinstance(data.get("q"), str):
            raise RoutingCaseError(f'line {number}: needs "q" (text) and "source"')
        if data.get("source") not in SOURCES:
            raise RoutingCaseError(
                f"line {number}: source must be one of {', '.join(SOURCES)}, "
                f"not {data.get('source')!r}"
            )
        cases.append(
            RoutingCase(data["q"], data["source"], data.get("tool"), data.get("distractor", ""))
        )
    if not cases:
        raise RoutingCaseError(f"{path}: no cases")
    return cases


def case_row(case: RoutingCase, event: SourceRouted, side_effect_tools: set[str]) -> dict[str, Any]:
    """One scored case, as ``summarize_routing`` and ``--json`` take it."""
    return {
        "q": case.q,
        "expected": case.source,
        "expected_tool": case.tool,
        "got": event.source,
        "tools": list(event.tools),
        "reason": event.reason,
        "model_call": event.model_call,
        "ok": event.source == case.source,
        "tool_ok": None if case.tool is None else case.tool in event.tools,
        "plain": case.plain,
        "any_tool": event.source == "tool",
        "side_effect": event.source == "tool" and bool(side_effect_tools & set(event.tools)),
    }


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def summarize_routing(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy, per-source recall, the confusion table (expected -> got)
    and the plain-question tool rates."""
    n = len(rows)
    confusion = {s: dict.fromkeys(SOURCES, 0) for s in SOURCES}
    for r in rows:
        confusion[r["expected"]][r["got"]] += 1
    per_source = {
        s: {"n": sum(confusion[s].values()), "ok": confusion[s][s]}
        for s in SOURCES
        if sum(confusion[s].values())
    }
    plain = [r for r in rows if r["plain"]]
    with_tool = [r for r in rows if r["tool_ok"] is not None]
    return {
        "n": n,
        "accuracy": _rate(sum(r["ok"] for r in rows), n),
        "per_source": per_source,
        "confusion": confusion,
        "plain": len(plain),
        "plain_any_tool": sum(r["any_tool"] for r in plain),
        "plain_any_tool_rate": _rate(sum(r["any_tool"] for r in plain), len(plain)),
        "plain_side_effect": sum(r["side_effect"] for r in plain),
        "plain_side_effect_rate": _rate(sum(r["side_effect"] for r in plain), len(plain)),
        "tool_named_ok": _rate(sum(bool(r["tool_ok"]) for r in with_tool), len(with_tool)),
        "model_calls": sum(r["model_call"] for r in rows),
    }
