"""The ``assistant`` command.

With no sub-command it starts the terminal UI. Each sub-command lives in
a module of this package (``HANDLERS``) and uses the same API as the UI
(``backend.api``). Errors go to stderr as ``Title: message`` with exit code 1 (2 for
usage errors, 130 when interrupted).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Sequence

from backend.common.errors import AssistantError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="A local-first, private chat assistant. Run without a command for the TUI.",
    )
    parser.add_argument(
        "--connect",
        metavar="URL",
        help="run the TUI on a running `assistant serve` at URL instead of embedding a backend",
    )
    parser.add_argument(
        "--token", help="the server's token for --connect (default: $ASSISTANT_TOKEN)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = sub.add_parser("ask", help="ask one question and stream the answer to stdout")
    ask.add_argument("question", help="the question (use - to read it from stdin)")
    ask.add_argument("--model", "-m", help="model name (see `assistant models`)")
    ask.add_argument(
        "--conversation", "-c", type=int, help="continue this conversation id instead of a new one"
    )
    ask.add_argument("--json", action="store_true", help="print one JSON object when done")
    ask.add_argument(
        "--schema",
        metavar="FILE",
        help="answer with JSON valid against the JSON Schema in FILE (validated; "
        "documents and tools are off for it)",
    )
    docs = ask.add_mutually_exclusive_group()
    docs.add_argument(
        "--docs",
        dest="docs",
        action="store_const",
        const=True,
        help="answer from your indexed documents (default: [rag] use_documents)",
    )
    docs.add_argument(
        "--no-docs", dest="docs", action="store_const", const=False, help="plain chat"
    )
    ask.add_argument(
        "--folder",
        action="append",
        metavar="PATH",
        help="search only this watched folder (repeatable; implies --docs)",
    )

    ask.add_argument(
        "--source",
        metavar="SOURCE",
        help="answer from this source only: documents, chats, memory, none, tool or "
        "tool:NAME (default: the router decides; a leading @docs/@chats/@memory/@none/"
        "@tool in the question does the same)",
    )
    tools = ask.add_mutually_exclusive_group()
    tools.add_argument(
        "--tools",
        dest="tools",
        action="store_const",
        const=True,
        help="let the model call tools (default: [tools] enabled); see `assistant tools`",
    )
    tools.add_argument("--no-tools", dest="tools", action="store_const", const=False)
    ask.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="allow tools with side effects without asking (otherwise: asked on a "
        "terminal, refused when not interactive)",
    )

    ask.add_argument(
        "--incognito",
        action="store_true",
        help="this conversation neither reads nor writes long-term memory",
    )

    tools_cmd = sub.add_parser("tools", help="the tools chat can call, and MCP servers")
    tools_cmd.add_argument("--json", action="store_true")

    from assistant.cli.models import add_parser as add_models_parser

    add_models_parser(sub)

    from assistant.cli.stats import add_parser as add_stats_parser

    add_stats_parser(sub)

    log = sub.add_parser("log", help="the most recent model calls from the request log")
    log.add_argument("--limit", "-n", type=int, default=20)
    log.add_argument("--json", action="store_true")

    from assistant.cli.prompt_log import add_parser as add_prompt_log_parser

    add_prompt_log_parser(sub, log)

    folders = sub.add_parser("folders", help="watched folders: add, remove, list")
    fsub = folders.add_subparsers(dest="folders_command", metavar="ACTION", required=True)
    fadd = fsub.add_parser("add", help="watch a folder (then run `assistant index`)")
    fadd.add_argument("path")
    fadd.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="only index files matching GLOB (repeatable)",
    )
    fadd.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="leave out files and folders matching GLOB (repeatable)",
    )
    fadd.add_argument("--max-mb", type=float, help="skip files larger than this (default 20)")
    frm = fsub.add_parser("remove", help="stop watching a folder and drop its index")
    frm.add_argument("path", help="the folder's path or id")
    flist = fsub.add_parser("list", help="watched folders with their indexing status")
    flist.add_argument("--json", action="store_true")
    flist.add_argument("--files", action="store_true", help="also list every file's status")

    documents = sub.add_parser(
        "documents", help="every file in the watched folders: indexed, skipped, duplicate, failed"
    )
    documents.add_argument(
        "--status", choices=["indexed", "pending", "failed", "skipped", "duplicate"]
    )
    documents.add_argument("--json", action="store_true")

    index = sub.add_parser("index", help="index (or resume indexing) the watched folders now")
    index.add_argument("--watch", action="store_true", help="then keep watching for changes")
    index.add_argument("--json", action="store_true", help="print a summary as JSON")
    index.add_argument(
        "--reembed",
        action="store_true",
        help="drop the stored vectors and embed everything again with the current model",
    )

    search = sub.add_parser("search", help="search the indexed documents")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5, help="how many chunks (default 5)")
    search.add_argument("--mode", choices=["hybrid", "dense", "keyword"], default="hybrid")
    search.add_argument(
        "--rerank",
        action="store_true",
        help="rerank as answers do (hybrid, then the reranker in use, then the diversity step)",
    )
    search.add_argument("--json", action="store_true")

    from assistant.cli.evaluation import add_parser as add_eval_parser

    add_eval_parser(sub)

    from assistant.cli.serve import add_parser as add_serve_parser

    add_serve_parser(sub)

    from assistant.cli.tuneup import add_parser as add_tune_parser

    add_tune_parser(sub)

    from assistant.cli.transfer import add_parser as add_transfer_parser

    add_transfer_parser(sub)

    from assistant.cli.memory import add_parser as add_memory_parser

    add_memory_parser(sub)

    from assistant.cli.mcp import add_parser as add_mcp_parser

    add_mcp_parser(sub)

    locate = sub.add_parser("locate", help="print the paths in use")
    locate.add_argument("--json", action="store_true")
    return parser


HANDLERS = {
    "ask": "chat",
    "models": "models",
    "stats": "stats",
    "log": "prompt_log",
    "prompts": "prompt_log",
    "replay": "prompt_log",
    "locate": "chat",
    "folders": "knowledge",
    "documents": "knowledge",
    "index": "knowledge",
    "search": "knowledge",
    "eval": "evaluation",
    "tools": "tools",
    "serve": "serve",
    "tune": "tuneup",
    "adapters": "tuneup",
    "export": "transfer",
    "import": "transfer",
    "mcp": "mcp",
    "memory": "memory",
}
"""Sub-command -> the ``assistant.cli`` module with its ``cmd_<name>``,
imported only when that command runs (``assistant --help`` stays light)."""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command is None and args.connect:
            from assistant.cli.remote import run_remote_tui

            return run_remote_tui(args.connect, args.token)
        if args.command is None:
            from assistant.cli.chat import run_tui

            return run_tui()
        module = importlib.import_module(f"assistant.cli.{HANDLERS[args.command]}")
        handler = getattr(module, f"cmd_{args.command}")
        return int(asyncio.run(handler(args)))
    except AssistantError as err:
        print(f"{err.title}: {err}", file=sys.stderr)
        return 1
    except ValueError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted", file=sys.stderr)
        return 130
