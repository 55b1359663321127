"""``assistant prompts``, ``assistant log show|purge`` and ``assistant replay``:
what each request was sent, which prompt versions it used, and running it
again to see whether the reply reproduces."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from assistant.cli.local import open_local
from assistant.cli.output import number, table
from assistant.request_detail import detail_text, replay_text
from backend.api import PromptVersion, ReplayResult, RequestDetail


def add_parser(sub: argparse._SubParsersAction, log: argparse.ArgumentParser) -> None:
    """``prompts`` and ``replay``, and the ``show``/``purge`` actions of ``log``."""
    prompts = sub.add_parser(
        "prompts", help="prompt versions with their requests, thumbs, TTFT, tokens and evals"
    )
    prompts.add_argument("--json", action="store_true", help="also print each version's text")
    replay = sub.add_parser(
        "replay", help="run a logged request again (same prompts, model, parameters) and diff"
    )
    replay.add_argument("id", type=int, help="request id (see `assistant log`)")
    replay.add_argument("--json", action="store_true")

    actions = log.add_subparsers(dest="log_action", metavar="ACTION")
    show = actions.add_parser("show", help="one request's full inputs and output")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    purge = actions.add_parser("purge", help="delete kept messages and replies (figures stay)")
    when = purge.add_mutually_exclusive_group(required=True)
    when.add_argument("--before", metavar="DATE", help="those logged before DATE (YYYY-MM-DD)")
    when.add_argument("--all", action="store_true", help="all of them")


async def cmd_log(args: argparse.Namespace) -> int:
    if args.log_action == "show":
        return await _show(args)
    if args.log_action == "purge":
        return await _purge(args)
    from assistant.cli.chat import cmd_log as list_requests

    return await list_requests(args)


def _version_json(v: PromptVersion) -> dict[str, Any]:
    return asdict(v) | {"label": v.label, "eval_runs": list(v.eval_runs)}


async def cmd_prompts(args: argparse.Namespace) -> int:
    backend = await open_local()
    try:
        versions = await backend.telemetry.prompt_versions()
    finally:
        await backend.close()
    if args.json:
        print(json.dumps({"versions": [_version_json(v) for v in versions]}, indent=2))
        return 0
    if not versions:
        print("no prompt versions logged yet")
        return 0
    rows = [
        [
            v.label,
            str(v.requests),
            f"{v.thumbs_up}/{v.thumbs_down}",
            number(v.ttft_avg_ms),
            number(v.prompt_tokens_avg),
            number(v.completion_tokens_avg),
            ",".join(map(str, v.eval_runs)) or "-",
            (v.last_used or v.created_at)[:19].replace("T", " "),
        ]
        for v in versions
    ]
    headers = ["version", "requests", "up/down", "TTFT ms", "prompt tok", "out tok", "evals"]
    print(table(rows, [*headers, "last used (UTC)"]))
    return 0


def _detail_json(d: RequestDetail) -> dict[str, Any]:
    return {
        "request": asdict(d.request),
        "prompts": [{"name": p.name, "sha256": p.sha256} for p in d.prompts],
        "model": {
            "name": d.model_name,
            "path": d.model_path,
            "sha256": d.model_sha256,
            "adapter": d.adapter_path,
            "adapter_sha256": d.adapter_sha256,
        },
        "params": d.params,
        "greedy": d.greedy,
        "messages": None if d.messages is None else [asdict(m) for m in d.messages],
        "tools": None if d.tools is None else json.loads(d.tools),
        "output": d.output,
    }


async def _show(args: argparse.Namespace) -> int:
    backend = await open_local()
    try:
        d = await backend.telemetry.request_detail(args.id)
    finally:
        await backend.close()
    if args.json:
        print(json.dumps(_detail_json(d), indent=2, ensure_ascii=False))
        return 0
    print(detail_text(d))
    return 0


async def _purge(args: argparse.Namespace) -> int:
    backend = await open_local()
    try:
        n = await backend.telemetry.purge_request_texts(None if args.all else args.before)
    finally:
        await backend.close()
    print(f"cleared the text of {n} requests")
    return 0


def _replay_json(r: ReplayResult) -> dict[str, Any]:
    return asdict(r) | {"notes": list(r.notes)}


async def cmd_replay(args: argparse.Namespace) -> int:
    backend = await open_local()
    try:
        r = await backend.telemetry.replay(args.id)
    finally:
        await backend.close()
    if args.json:
        print(json.dumps(_replay_json(r), indent=2, ensure_ascii=False))
        return 0 if r.identical or r.sampling == "sampled" else 3
    for note in r.notes:
        print(f"note: {note}", file=sys.stderr)
    print(replay_text(r, with_notes=False))
    return 0 if r.identical or r.sampling == "sampled" else 3
