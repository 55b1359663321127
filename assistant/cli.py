"""The ``assistant`` command.

With no sub-command it starts the terminal UI. Sub-commands (``ask``,
``models``, ``stats``, ``locate``) use the same ``backend.Backend`` facade as
the UI. Errors go to stderr as ``Title: message`` with exit code 1 (2 for
usage errors, 130 when interrupted).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from backend.errors import AssistantError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="A local-first, private chat assistant. Run without a command for the TUI.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = sub.add_parser("ask", help="ask one question and stream the answer to stdout")
    ask.add_argument("question", help="the question (use - to read it from stdin)")
    ask.add_argument("--model", "-m", help="model name (see `assistant models`)")
    ask.add_argument(
        "--conversation", "-c", type=int, help="continue this conversation id instead of a new one"
    )
    ask.add_argument("--json", action="store_true", help="print one JSON object when done")

    models = sub.add_parser("models", help="list the models every runtime can run")
    models.add_argument("--json", action="store_true")

    stats = sub.add_parser("stats", help="per-model request counts, tokens, TTFT and speed")
    stats.add_argument("--json", action="store_true")

    log = sub.add_parser("log", help="the most recent model calls from the request log")
    log.add_argument("--limit", "-n", type=int, default=20)
    log.add_argument("--json", action="store_true")

    locate = sub.add_parser("locate", help="print the paths in use")
    locate.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from assistant import commands_cli as commands

    try:
        if args.command is None:
            return commands.run_tui()
        handler = getattr(commands, f"cmd_{args.command}")
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
