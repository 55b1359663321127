"""``assistant export`` and ``assistant import``: conversations to and
from files.

The backend turns conversations into text and text into conversations
(``TransferAPI``); this module only picks which ones, and reads and writes
the files (or stdout/stdin). Without ``--conversation`` or ``--all``,
export writes the conversation used last.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from assistant.cli.local import open_local
from backend.api import AssistantAPI, ImportFormatError
from backend.common.errors import NotFoundError


def add_parser(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser(
        "export", help="write conversations as Markdown or JSON (default: the latest one)"
    )
    which = export.add_mutually_exclusive_group()
    which.add_argument("--conversation", "-c", type=int, metavar="ID", help="this conversation")
    which.add_argument("--all", action="store_true", help="every conversation")
    export.add_argument(
        "--format",
        "-f",
        choices=["md", "json"],
        default="md",
        help="md: readable, the active branch with citations (default); json: everything, "
        "for `assistant import`",
    )
    export.add_argument("-o", "--output", metavar="PATH", help="write to PATH (default: stdout)")
    imp = sub.add_parser(
        "import", help="add conversations from our JSON export or ChatGPT's conversations.json"
    )
    imp.add_argument("file", help="the file to import (- reads stdin)")


async def _ids(backend: AssistantAPI, args: argparse.Namespace) -> list[int] | None:
    if args.all:
        return None
    if args.conversation is not None:
        return [args.conversation]
    latest = await backend.conversations.list_conversations()
    if not latest:
        raise NotFoundError("there are no conversations to export")
    return [latest[0].id]


async def cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.output).expanduser() if args.output else None
    backend = await open_local()
    try:
        ids = await _ids(backend, args)
        text = await backend.transfer.export_conversations(ids, args.format)
    finally:
        await backend.close()
    if out is None:
        sys.stdout.write(text)
        return 0
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as err:
        print(f"Cannot export: cannot write {out}: {err.strerror or err}", file=sys.stderr)
        return 1
    count = "every conversation" if ids is None else f"{len(ids)} conversation(s)"
    print(f"exported {count} to {out}", file=sys.stderr)
    return 0


def _read(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    try:
        return Path(file).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise ImportFormatError(f"cannot read {file}: {reason}") from None


async def cmd_import(args: argparse.Namespace) -> int:
    text = _read(args.file)
    backend = await open_local()
    try:
        added = await backend.transfer.import_conversations(text)
    finally:
        await backend.close()
    print(f"imported {len(added)} conversation(s)")
    for conv in added:
        print(f"  {conv.id}  {conv.title}")
    return 0
