"""Scoring tool decisions against expected calls (``assistant eval tools``).

A case is one JSON line::

    {"q": "what is 1234*5678", "tool": "calculator",
     "arguments": {"expression": "1234*5678"}, "match": {"expression": "value"}}

``tool`` null means no tool should be called. Only the arguments a case
lists are checked, each by its ``match`` rule:

- ``equal`` (default): equal after case-folding and collapsing whitespace
  (numbers compare as numbers);
- ``contains``: the expected text occurs in the actual one (case-folded);
- ``value``: both are arithmetic that the calculator evaluates to the same
  number (``2**10`` and ``2^10`` and ``1024`` all pass).

Tool-selection accuracy is the share of cases where the decided tool (or
"none") is the expected one; argument accuracy is, among cases that expect
a tool and got it, the share whose arguments all match; ``both`` is the
share of all cases right on both counts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from backend.tools.base import ToolCall

Match = Literal["equal", "contains", "value"]


class CaseError(ValueError):
    """A question-set line is malformed (the message names the line)."""


@dataclass(frozen=True)
class ToolCase:
    q: str
    tool: str | None
    arguments: dict[str, Any] = field(default_factory=dict)
    match: dict[str, Match] = field(default_factory=dict)


def load_cases(path: str | Path) -> list[ToolCase]:
    """Cases from a JSONL file.

    Raises:
        CaseError: a line is not JSON or lacks ``q`` / ``tool``.
        OSError: the file cannot be read.
    """
    cases = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as err:
            raise CaseError(f"line {number}: not JSON ({err.msg})") from None
        if not isinstance(data, dict) or not isinstance(data.get("q"), str) or "tool" not in data:
            raise CaseError(f'line {number}: needs "q" (text) and "tool" (a name or null)')
        match = data.get("match", {})
        bad = [m for m in match.values() if m not in ("equal", "contains", "value")]
        if bad:
            raise CaseError(f"line {number}: unknown match rule {bad[0]!r}")
        cases.append(ToolCase(data["q"], data["tool"], data.get("arguments", {}), match))
    if not cases:
        raise CaseError(f"{path}: no cases")
    return cases


def _norm(value: Any) -> str:
    return " ".join(str(value).casefold().split())


def _number(expression: Any) -> float | None:
    from backend.tools.calculator import evaluate

    text = str(expression).replace("^", "**")
    try:
        return float(evaluate(text))
    except Exception:
        return None


def argument_matches(expected: Any, actual: Any, rule: Match = "equal") -> bool:
    if actual is None:
        return False
    if rule == "value":
        a, b = _number(expected), _number(actual)
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9)
    if rule == "contains":
        return _norm(expected) in _norm(actual)
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        try:
            return float(actual) == float(expected)
        except (TypeError, ValueError):
            return False
    return _norm(expected) == _norm(actual)


@dataclass(frozen=True)
class CaseScore:
    case: ToolCase
    call: ToolCall | None
    tool_ok: bool
    arguments_ok: bool | None
    """None when the case expects no tool or the tool was wrong."""


def score_case(case: ToolCase, call: ToolCall | None) -> CaseScore:
    got = call.name if call is not None else None
    tool_ok = got == case.tool
    if not tool_ok or case.tool is None or call is None:
        return CaseScore(case, call, tool_ok, None)
    ok = all(
        argument_matches(value, call.arguments.get(name), case.match.get(name, "equal"))
        for name, value in case.arguments.items()
    )
    return CaseScore(case, call, tool_ok, ok)


def summarize(scores: list[CaseScore]) -> dict[str, Any]:
    """Selection, argument and overall accuracy, and per expected tool."""
    n = len(scores)
    with_args = [s for s in scores if s.arguments_ok is not None]
    per_tool: dict[str, dict[str, Any]] = {}
    for s in scores:
        key = s.case.tool or "none"
        row = per_tool.setdefault(key, {"n": 0, "tool_ok": 0, "arguments_ok": 0})
        row["n"] += 1
        row["tool_ok"] += int(s.tool_ok)
        row["arguments_ok"] += int(bool(s.arguments_ok))
    both = sum(1 for s in scores if s.tool_ok and s.arguments_ok is not False)
    return {
        "n": n,
        "tool_accuracy": sum(s.tool_ok for s in scores) / n if n else 0.0,
        "argument_accuracy": (
            sum(bool(s.arguments_ok) for s in with_args) / len(with_args) if with_args else None
        ),
        "both_accuracy": both / n if n else 0.0,
        "per_tool": per_tool,
    }
