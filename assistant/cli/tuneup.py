"""``assistant tune`` and ``assistant adapters``: tune-ups from the CLI.

``tune`` starts the job through the facade (it trains in its own process),
prints progress on stderr (a bar on a terminal, a line per report
otherwise) and the result on stdout; ``--json`` prints one JSON object per
report instead, like the job itself. Ctrl-C cancels the tune-up cleanly.
``adapters`` lists runs per model, activates one (refused when its
before/after evaluation says it does not help, unless ``--force``) and
rolls back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from typing import Any

from assistant.cli.local import open_local
from backend.api import Adapter, TuneupUpdate, describe


def add_parser(sub: argparse._SubParsersAction) -> None:
    tune = sub.add_parser("tune", help="tune the model to you from your edits and thumbs")
    tune.add_argument("--method", choices=["sft", "dpo"], default="sft")
    tune.add_argument("--model", "-m", help="model to tune (default: the default model)")
    tune.add_argument(
        "--exclude",
        type=int,
        action="append",
        default=[],
        metavar="CONVERSATION",
        help="leave this conversation id out (repeatable)",
    )
    tune.add_argument("--steps", type=int, help="training steps (default: chosen from the data)")
    tune.add_argument(
        "--dry-run", action="store_true", help="only show the data a tune-up would use"
    )
    tune.add_argument("--json", action="store_true", help="one JSON object per report")

    adapters = sub.add_parser("adapters", help="tune-up adapters: list, activate, deactivate")
    asub = adapters.add_subparsers(dest="adapters_command", metavar="ACTION")
    alist = asub.add_parser("list", help="adapters per model, newest first")
    alist.add_argument("--model", "-m")
    alist.add_argument("--json", action="store_true")
    act = asub.add_parser("activate", help="use an adapter for its model")
    act.add_argument("run_id", help="the run id from `assistant adapters list`")
    act.add_argument("--force", action="store_true", help="even if it did not help")
    act.add_argument("--json", action="store_true")
    deact = asub.add_parser("deactivate", help="roll a model back to its base weights")
    deact.add_argument("--model", "-m")
    deact.add_argument("--json", action="store_true")


async def cmd_tune(args: argparse.Namespace) -> int:
    backend = await open_local()
    tty = sys.stderr.isatty()
    last: TuneupUpdate | None = None
    try:
        job = await backend.tuneups.start_tuneup(
            args.method,
            model=args.model,
            exclude=args.exclude,
            steps=args.steps,
            dry_run=args.dry_run,
        )
        try:
            async for update in job.updates():
                last = update
                if args.json:
                    print(json.dumps({"event": update.event, **update.data}), flush=True)
                elif update.event == "progress" and tty:
                    print("\r" + describe(update), end="", file=sys.stderr, flush=True)
                else:
                    end = "\n" if not tty or update.event != "progress" else ""
                    print(
                        ("\n" if tty and update.final else "") + describe(update),
                        file=sys.stderr if update.event != "done" else sys.stdout,
                        end=end,
                    )
        except (KeyboardInterrupt, asyncio.CancelledError):
            job.cancel()
            print("\ncancelling the tune-up...", file=sys.stderr)
            async for update in job.updates():
                last = update
            raise
    finally:
        await backend.close()
    if last is None or last.event == "error":
        return 1
    return 130 if last.event == "cancelled" else 0


def _adapter_row(a: Adapter) -> dict[str, Any]:
    row = asdict(a)
    row["path"] = str(a.path)
    row["gguf"] = str(a.gguf) if a.gguf else None
    row["metrics"] = {k: v for k, v in a.metrics.items() if not isinstance(v, list)}
    return row


async def cmd_adapters(args: argparse.Namespace) -> int:
    action = args.adapters_command or "list"
    backend = await open_local()
    try:
        if action == "activate":
            adapter = await backend.tuneups.activate_adapter(args.run_id, force=args.force)
            if args.json:
                print(json.dumps(_adapter_row(adapter), indent=2))
            else:
                print(f"{adapter.model}: now using {adapter.run_id}")
            return 0
        if action == "deactivate":
            changed = await backend.tuneups.deactivate_adapter(args.model)
            if args.json:
                print(json.dumps({"deactivated": changed}))
            else:
                print("rolled back to the base model" if changed else "no adapter was active")
            return 0
        rows = await backend.tuneups.list_adapters(getattr(args, "model", None))
    finally:
        await backend.close()
    if getattr(args, "json", False):
        print(json.dumps([_adapter_row(a) for a in rows], indent=2))
        return 0
    if not rows:
        print("no tune-up runs yet (see `assistant tune`)")
        return 0
    for a in rows:
        mark = "*" if a.active else " "
        helps = {True: "helps", False: "does not help", None: "not evaluated"}[a.helps]
        print(f"{mark} {a.model:<24} {a.run_id:<24} {a.method:<4} {helps}  {a.summary}")
    return 0
