"""What each CLI sub-command does (``assistant.cli`` parses the arguments)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from assistant.cli.local import local_backend, open_local
from assistant.cli.memory import MemoryReporter
from assistant.cli.output import number, table
from assistant.cli.structured import answer_value, conflicting_option, load_schema
from assistant.cli.tools import ToolReporter, call_json
from backend.api import AssistantAPI
from backend.common.events import (
    CitationsParsed,
    Done,
    ErrorEvent,
    HistorySummarised,
    HistoryTrimmed,
    MessageSaved,
    SourceRef,
    SourceRouted,
    SourcesRetrieved,
    TextDelta,
    Usage,
)


def run_tui() -> int:
    from assistant.app import run_tui as launch

    launch(local_backend())
    return 0


def route_json(e: SourceRouted) -> dict[str, Any]:
    return {
        "source": e.source,
        "label": e.label,
        "reason": e.reason,
        "forced": e.forced,
        "tools": list(e.tools),
        "model_call": e.model_call,
        "scores": e.scores,
    }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def source_label(s: SourceRef) -> str:
    where = " › ".join(p for p in (s.path, s.heading) if p)
    page = f" (p. {s.page})" if s.page else ""
    warn = f"  ⚠ {', '.join(s.flags)}" if s.flags else ""
    return f"[S{s.n}] {where}{page}{warn}"


def source_json(s: SourceRef) -> dict[str, Any]:
    out = asdict(s)
    out["flags"] = list(s.flags)
    return out


async def _folder_ids(backend: AssistantAPI, paths: list[str] | None) -> list[int] | None:
    if not paths:
        return None
    from pathlib import Path

    folders = await backend.documents.folders()
    ids = []
    for p in paths:
        real = str(Path(p).expanduser().resolve())
        match = [f.folder.id for f in folders if f.folder.path == real]
        if not match:
            raise ValueError(f"{p} is not a watched folder (see `assistant folders list`)")
        ids.append(match[0])
    return ids


async def cmd_ask(args: argparse.Namespace) -> int:
    schema = load_schema(args.schema) if args.schema else None
    if schema is not None and (bad := conflicting_option(args.docs, args.folder, args.tools)):
        print(f"error: --schema cannot be combined with {bad}", file=sys.stderr)
        return 2
    question = sys.stdin.read() if args.question == "-" else args.question
    backend = await open_local()
    try:
        try:
            folder_ids = await _folder_ids(backend, args.folder)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        use_docs = True if folder_ids else args.docs
        conversation = args.conversation
        if args.incognito:
            if conversation is None:
                conversation = (
                    await backend.conversations.create_conversation(model=args.model)
                ).id
            await backend.memory.set_incognito(conversation, True)
        if use_docs is not None:
            if conversation is None:
                conversation = (
                    await backend.conversations.create_conversation(model=args.model)
                ).id
            await backend.documents.set_conversation_documents(conversation, use_docs)
        if args.tools or (args.tools is None and backend.settings.tools.enabled):
            await backend.tools.mcp_status(wait=True)  # MCP tools ready for this one question
        stream = await backend.chat.send(
            conversation,
            question,
            model=args.model,
            folder_ids=folder_ids,
            tools=args.tools,
            schema=schema,
            source=args.source or ("documents" if args.docs and schema is None else None),
        )
        reporter = ToolReporter(yes=args.yes, quiet=args.json)
        memory = MemoryReporter(quiet=args.json)
        sources: tuple[SourceRef, ...] = ()
        retrieved: SourcesRetrieved | None = None
        cited: tuple[int, ...] = ()
        matched: tuple[int, ...] = ()
        answer: list[str] = []
        usage: Usage | None = None
        stop = "stop"
        error: ErrorEvent | None = None
        message_id = request_id = None
        routed: SourceRouted | None = None
        async for event in stream:
            if isinstance(event, TextDelta):
                answer.append(event.text)
                if not args.json and schema is None:
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
            elif isinstance(event, Usage):
                usage = event
            elif isinstance(event, Done):
                stop = event.stop_reason
            elif isinstance(event, ErrorEvent):
                error = event
            elif isinstance(event, HistoryTrimmed):
                print(
                    f"note: {event.dropped_messages} older messages left out to fit the "
                    f"{event.context_tokens}-token context window",
                    file=sys.stderr,
                )
            elif isinstance(event, HistorySummarised):
                print(
                    f"note: {event.summarised_messages} earlier messages summarised to fit "
                    f"the {event.context_tokens}-token context window",
                    file=sys.stderr,
                )
            elif isinstance(event, SourcesRetrieved):
                retrieved, sources = event, event.sources
                if not args.json and event.rewritten:
                    print(f"note: query rewritten: {event.rewritten}", file=sys.stderr)
            elif isinstance(event, CitationsParsed):
                cited, matched = event.cited, event.matched
            elif isinstance(event, MessageSaved):
                message_id, request_id = event.message_id, event.request_id
            elif memory.handle(event):
                pass
            elif isinstance(event, SourceRouted):
                routed = event
            else:
                await reporter.handle(stream, event)
        conv = await backend.conversations.get_conversation(stream.conversation_id)
    finally:
        await backend.close()
    if error is not None:
        print(f"{error.title}: {error.message}", file=sys.stderr)
        return 1
    data = answer_value("".join(answer)) if schema is not None else None
    if schema is not None and not args.json:
        print(json.dumps(data, ensure_ascii=False))
        return 0
    if args.json:
        u = usage
        print(
            json.dumps(
                {
                    "answer": "".join(answer),
                    **({"data": data} if schema is not None else {}),
                    "conversation_id": stream.conversation_id,
                    "message_id": message_id,
                    "request_id": request_id,
                    "model": conv.model or backend.settings.default_model,
                    "stop_reason": stop,
                    "sources": [
                        {**source_json(s), "cited": s.n in cited, "matched": s.n in matched}
                        for s in sources
                    ],
                    "cited": list(cited),
                    "matched": list(matched),
                    "tool_calls": [call_json(c) for c in reporter.calls],
                    "memories_used": memory.used,
                    "remembered": memory.remembered,
                    "incognito": conv.incognito,
                    "route": None if routed is None else route_json(routed),
                    "rag": None
                    if retrieved is None
                    else {
                        "searched": retrieved.searched,
                        "weak": retrieved.weak,
                        "rewritten": retrieved.rewritten,
                        "stage_ms": {k: _round(v) for k, v in retrieved.stage_ms.items()},
                    },
                    "usage": {
                        "prompt_tokens": u.prompt_tokens if u else 0,
                        "completion_tokens": u.completion_tokens if u else 0,
                        "cached_tokens": u.cached_tokens if u else 0,
                    },
                    "timings": {
                        "ttft_ms": _round(u.ttft_ms if u else None),
                        "total_ms": _round(u.total_ms if u else None),
                        "prefill_tok_s": _round(u.prefill_tok_s if u else None),
                        "decode_tok_s": _round(u.decode_tok_s if u else None),
                    },
                },
                ensure_ascii=False,
            )
        )
    else:
        sys.stdout.write("\n")
        listed = [s for s in sources if s.n in cited]
        if listed:
            print("\nSources:")
            for s in listed:
                print("  " + source_label(s))
        elif matched:
            print("\nMatched (not cited by the model):")
            for s in sources:
                if s.n in matched:
                    print("  " + source_label(s))
        elif sources:
            print(f"\n({len(sources)} passages retrieved; none cited)")
        memory.footer()
    return 0


async def cmd_log(args: argparse.Namespace) -> int:
    backend = await open_local()
    try:
        records = await backend.telemetry.request_log(args.limit)
    finally:
        await backend.close()
    if args.json:
        print(json.dumps([asdict(r) for r in records], indent=2))
        return 0
    rows = [
        [
            str(r.id),
            r.created_at[:19].replace("T", " "),
            r.model,
            str(r.prompt_tokens or 0),
            str(r.cached_tokens or 0),
            str(r.completion_tokens or 0),
            number(r.ttft_ms),
            number(r.decode_tok_s),
            r.stop_reason or "-",
            (r.error or "")[:40],
        ]
        for r in records
    ]
    headers = [
        "id",
        "time (UTC)",
        "model",
        "prompt",
        "cached",
        "completion",
        "TTFT ms",
        "tok/s",
        "stop",
        "error",
    ]
    print(table(rows, headers))
    return 0


async def cmd_locate(args: argparse.Namespace) -> int:
    from backend.common.locations import default_locations

    paths = default_locations().as_dict()
    if args.json:
        print(json.dumps(paths, indent=2))
    else:
        width = max(map(len, paths))
        for k, v in paths.items():
            print(f"{k:<{width}}  {v}")
    return 0
