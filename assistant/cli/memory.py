"""``assistant memory list|add|rm|clear|export``: long-term memory on the
command line (the same API as the TUI's Memory screen), and the memory
lines of ``assistant ask``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from assistant.cli.local import open_local
from assistant.cli.output import table
from backend.api import Memory
from backend.common.events import MemoriesUsed, MemorySaved


def add_parser(sub: argparse._SubParsersAction) -> None:
    memory = sub.add_parser("memory", help="what the assistant remembers about you")
    msub = memory.add_subparsers(dest="memory_command", metavar="ACTION", required=True)
    mlist = msub.add_parser("list", help="every memory, newest first")
    mlist.add_argument("query", nargs="?", help="only memories containing this text")
    mlist.add_argument("--json", action="store_true")
    madd = msub.add_parser("add", help="remember a short fact about you")
    madd.add_argument("text")
    madd.add_argument("--json", action="store_true")
    mrm = msub.add_parser("rm", help="forget one memory (by id, see `memory list`)")
    mrm.add_argument("id", type=int)
    mrm.add_argument("--json", action="store_true")
    mclear = msub.add_parser("clear", help="forget every memory")
    mclear.add_argument("--yes", "-y", action="store_true", help="do not ask")
    mclear.add_argument("--json", action="store_true")
    mexport = msub.add_parser("export", help="write every memory to a file (or stdout)")
    mexport.add_argument("path", nargs="?", help="the file (default: stdout)")
    mexport.add_argument("--format", choices=["json", "markdown"], default=None)


def memory_json(m: Memory) -> dict[str, Any]:
    return {
        "id": m.id,
        "text": m.text,
        "source": m.source,
        "conversation_id": m.conversation_id,
        "message_id": m.message_id,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    }


class MemoryReporter:
    """The memory events of one ``ask``: a note on stderr, and ``--json``'s
    ``memories_used`` / ``remembered``."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.used: list[dict[str, Any]] = []
        self.remembered: dict[str, Any] | None = None

    def handle(self, event: object) -> bool:
        if isinstance(event, MemoriesUsed):
            self.used = [{"id": m.id, "text": m.text} for m in event.memories]
            return True
        if isinstance(event, MemorySaved):
            self.remembered = {"id": event.memory.id, "text": event.memory.text}
            if not self.quiet:
                print(f"note: remembered: {event.memory.text}", file=sys.stderr)
            return True
        return False

    def footer(self) -> None:
        if self.used and not self.quiet:
            print("\nMemory used: " + "; ".join(m["text"] for m in self.used))


async def cmd_memory(args: argparse.Namespace) -> int:
    action = args.memory_command
    if action == "clear" and not args.yes:
        if not sys.stdin.isatty():
            print("error: `memory clear` forgets everything; add --yes", file=sys.stderr)
            return 2
        if input("Forget every memory? [y/N] ").strip().lower() not in ("y", "yes"):
            return 1
    backend = await open_local()
    try:
        out: Any
        if action == "list":
            memories = await backend.memory.list_memories(args.query)
            if args.json:
                out = [memory_json(m) for m in memories]
            else:
                rows = [[str(m.id), m.text, m.source, m.created_at[:10]] for m in memories]
                print(table(rows, ["id", "memory", "source", "added"]) if rows else "No memories.")
                return 0
        elif action == "add":
            m = await backend.memory.add_memory(args.text, source="cli")
            out = memory_json(m) if args.json else f"Remembered ({m.id}): {m.text}"
        elif action == "rm":
            await backend.memory.delete_memory(args.id)
            out = {"deleted": args.id} if args.json else f"Forgot memory {args.id}"
        elif action == "clear":
            n = await backend.memory.clear_memories()
            out = {"deleted": n} if args.json else f"Forgot {n} memories"
        else:
            md = args.format == "markdown" or (
                args.format is None and str(args.path or "").endswith(".md")
            )
            text = await backend.memory.export_memories("markdown" if md else "json")
            if args.path is None:
                sys.stdout.write(text)
                return 0
            Path(args.path).expanduser().write_text(text, encoding="utf-8")
            print(f"Wrote {args.path}", file=sys.stderr)
            return 0
    finally:
        await backend.close()
    print(json.dumps(out, ensure_ascii=False) if not isinstance(out, str) else out)
    return 0
