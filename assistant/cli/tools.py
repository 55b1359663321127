"""Tools on the command line: ``assistant tools`` and the approvals and
reports of ``assistant ask --tools``.

A side-effect call never runs without a yes: on a terminal ``ask`` prompts
(allow once / for this conversation / deny); when stdin is not a terminal
(a pipe, a script, ``ask -``) it refuses the call and says how to allow it
(``--yes``). Calls are reported on stderr as they finish, so stdout keeps
only the answer; ``--json`` lists them under ``tool_calls``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from assistant.cli.local import open_local
from backend.api import ReplyStream
from backend.api import ToolChoice as Choice
from backend.common.events import ToolCallFinished, ToolCallProposed

CHOICES: dict[str, Choice] = {
    "o": "once",
    "once": "once",
    "y": "once",
    "yes": "once",
    "a": "conversation",
    "always": "conversation",
    "c": "conversation",
    "d": "deny",
    "n": "deny",
    "no": "deny",
    "deny": "deny",
    "": "deny",
}


def call_label(name: str, arguments: dict[str, Any], limit: int = 80) -> str:
    """``calculator(expression="1234*5678")``, cut to ``limit`` characters."""
    args = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items())
    label = f"{name}({args})"
    return label if len(label) <= limit else label[: limit - 2] + "…)"


def call_json(call: ToolCallFinished) -> dict[str, Any]:
    return {
        "name": call.name,
        "arguments": call.arguments,
        "result": call.output,
        "error": call.error,
        "ms": round(call.ms, 1),
        "side_effects": call.side_effects,
        "approved": call.approved,
        "provenance": list(call.provenance),
    }


def _ask_terminal(prompt: str) -> Choice:
    while True:
        sys.stderr.write(prompt)
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:  # end of input: no
            return "deny"
        choice = CHOICES.get(line.strip().lower())
        if choice is not None:
            return choice
        sys.stderr.write("  answer o (once), a (for this conversation) or d (deny)\n")


@dataclass
class ToolReporter:
    """Answers ``ToolCallProposed`` and collects ``ToolCallFinished`` for one
    ``ask``: ``yes`` approves every side effect; otherwise the terminal is
    asked, and without one the call is refused."""

    yes: bool = False
    quiet: bool = False
    calls: list[ToolCallFinished] = field(default_factory=list)

    async def handle(self, stream: ReplyStream, event: object) -> None:
        if isinstance(event, ToolCallProposed) and event.needs_approval:
            stream.answer_tool(event.call_id, await self._approve(event))
        elif isinstance(event, ToolCallFinished):
            self.calls.append(event)
            if not self.quiet:
                sys.stderr.write(self._line(event) + "\n")

    async def _approve(self, event: ToolCallProposed) -> Choice:
        label = call_label(event.name, event.arguments, limit=200)
        if self.yes:
            return "once"
        if not sys.stdin.isatty():
            sys.stderr.write(
                f"refused: {label} has side effects and this is not a terminal "
                "(pass --yes to allow)\n"
            )
            return "deny"
        where = f" (after reading: {', '.join(event.provenance)})" if event.provenance else ""
        prompt = (
            f"\nThe assistant wants to run {label}{where} [{event.source}].\n"
            "Allow? [o]nce / [a]lways in this conversation / [d]eny: "
        )
        return await asyncio.to_thread(_ask_terminal, prompt)

    @staticmethod
    def _line(call: ToolCallFinished) -> str:
        label = call_label(call.name, call.arguments)
        if call.approved is False:
            return f"⚙ {label}: declined"
        if call.error:
            return f"⚙ {label}: error: {call.error}"
        out = " ".join(call.output.split())
        out = out if len(out) <= 100 else out[:99] + "…"
        return f"⚙ {label} → {out} ({call.ms:.0f} ms)"


async def cmd_tools(args: argparse.Namespace) -> int:
    """List the tools chat can call and each MCP server's state."""
    backend = await open_local()
    try:
        servers = await backend.tools.mcp_status(wait=True)
        tools = await backend.tools.list_tools()
    finally:
        await backend.close()
    if args.json:
        print(
            json.dumps(
                {
                    "tools": [
                        {
                            "name": t.name,
                            "description": t.description,
                            "side_effects": t.side_effects,
                            "source": t.source,
                            "parameters": t.parameters,
                        }
                        for t in tools
                    ],
                    "mcp_servers": [
                        {
                            "name": s.name,
                            "transport": s.transport,
                            "target": s.target,
                            "enabled": s.enabled,
                            "connected": s.connected,
                            "tools": s.tools,
                            "error": s.error,
                        }
                        for s in servers
                    ],
                },
                ensure_ascii=False,
            )
        )
        return 0
    for t in tools:
        mark = "  (side effects: asks first)" if t.side_effects else ""
        print(f"{t.name:<28} [{t.source}] {t.description}{mark}")
    for s in servers:
        state = f"connected, {s.tools} tools" if s.connected else f"down: {s.error or 'disabled'}"
        print(f"MCP {s.name} ({s.transport} {s.target}): {state}")
    return 0
