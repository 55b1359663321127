"""``assistant eval routing FILE.jsonl``: source-routing accuracy, the
confusion table, and how often plain questions would trigger a tool."""

from __future__ import annotations

import argparse
import json
from typing import Any

from backend.api import AssistantAPI

SOURCES = ("documents", "chats", "memory", "tool", "none")


def add_routing_parser(esub: Any) -> None:
    routing = esub.add_parser("routing", help="source-routing accuracy and confusion table")
    routing.add_argument(
        "file", help='JSONL cases: {"q", "source": documents|chats|memory|tool|none, "tool"?}'
    )
    routing.add_argument("--model", "-m", help="model name (default: the default model)")
    routing.add_argument("--limit", "-n", type=int, help="only the first N cases")
    routing.add_argument(
        "--no-model", action="store_true", help="no model call when unsure (cues and similarity)"
    )
    routing.add_argument("--json", action="store_true", help="print one JSON object")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def print_routing(result: dict[str, Any]) -> None:
    for row in result["cases"]:
        if not row["ok"]:
            print(f"miss: {row['q']!r}: {row['expected']} -> {row['got']} ({row['reason']})")
    model = result["model"] or "no model call"
    print(
        f"{result['n']} questions ({model}): accuracy {_pct(result['accuracy'])}, "
        f"{result['model_calls']} model calls"
    )
    print(
        f"plain questions (documents/none): {result['plain']}; routed to a tool "
        f"{result['plain_any_tool']} ({_pct(result['plain_any_tool_rate'])}), to a "
        f"side-effect tool {result['plain_side_effect']} "
        f"({_pct(result['plain_side_effect_rate'])})"
    )
    head = "expected \\ got"
    print(f"{head:<16}" + "".join(f"{s:>11}" for s in SOURCES) + f"{'recall':>9}")
    for s in SOURCES:
        row = result["confusion"].get(s, {})
        n = sum(row.values())
        if not n:
            continue
        cells = "".join(f"{row.get(t, 0):>11}" for t in SOURCES)
        print(f"{s:<16}{cells}{row.get(s, 0) / n:>9.2f}")


async def run_routing(backend: AssistantAPI, args: argparse.Namespace, progress: Any) -> None:
    result = await backend.chat.eval_routing(
        args.file,
        model=args.model,
        limit=args.limit,
        use_model=not args.no_model,
        progress=progress,
    )
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print_routing(result)
