"""``assistant stats``: the request log summed up, per model and over a
period (tokens per day, TTFT and decode speed per model per day, where
grounded answers spend their time, thumbs per prompt)."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from assistant.cli.local import open_local
from assistant.cli.output import number, table
from backend.api import ModelStats, UsageStats

_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def add_parser(sub: Any) -> None:
    stats = sub.add_parser(
        "stats", help="tokens per day, TTFT and speed per model, RAG stage times, thumbs"
    )
    stats.add_argument(
        "--since",
        default="7d",
        type=since_arg,
        metavar="AGE",
        help="the period: 30m, 24h, 7d, 2w, an ISO date (2026-03-01), or 'all' (default: 7d)",
    )
    stats.add_argument("--json", action="store_true", help="print one JSON object")


def since_arg(text: str, now: datetime | None = None) -> str | None:
    """``--since`` as an ISO-8601 UTC timestamp (None for ``all``)."""
    if text == "all":
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([mhdw])", text.strip())
    if m:
        delta = timedelta(**{_UNITS[m[2]]: float(m[1])})
        return ((now or datetime.now(UTC)) - delta).isoformat(timespec="seconds")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use 30m, 24h, 7d, 2w, an ISO date or 'all'"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat(timespec="seconds")


async def cmd_stats(args: argparse.Namespace) -> int:
    backend = await open_local()
    try:
        models = await backend.telemetry.stats()
        usage = await backend.telemetry.usage_stats(args.since)
    finally:
        await backend.close()
    if args.json:
        print(json.dumps({"models": [asdict(s) for s in models], **asdict(usage)}, indent=2))
        return 0
    if not models:
        print("no requests logged yet")
        return 0
    print(render(models, usage))
    return 0


def render(models: list[ModelStats], usage: UsageStats) -> str:
    period = f"since {usage.since[:16].replace('T', ' ')} UTC" if usage.since else "all time"
    parts = ["Per model (all time)", _models_table(models)]
    if not usage.tokens:
        parts.append(f"\nNo replies {period}.")
        return "\n".join(parts)
    parts += [f"\nTokens per day ({period})", _tokens_table(usage)]
    parts += ["\nSpeed per model per day", _speed_table(usage)]
    if usage.stages:
        parts += [f"\nWhere a grounded answer's time goes ({usage.grounded_answers} answers)"]
        parts.append(_stages_table(usage))
    if usage.thumbs:
        parts += ["\nThumbs per prompt", _thumbs_table(usage)]
    return "\n".join(parts)


def _models_table(stats: list[ModelStats]) -> str:
    rows = [
        [
            s.model,
            s.runtime,
            str(s.requests),
            str(s.errors),
            str(s.prompt_tokens),
            str(s.completion_tokens),
            number(s.ttft_p50_ms),
            number(s.ttft_p95_ms),
            number(s.decode_tok_s_avg),
        ]
        for s in stats
    ]
    headers = ["model", "runtime", "requests", "errors", "prompt tok", "completion tok"]
    return table(rows, [*headers, "TTFT p50 ms", "TTFT p95 ms", "decode tok/s"])


def _tokens_table(u: UsageStats) -> str:
    rows = [
        [t.day, t.model, str(t.requests), str(t.prompt_tokens), str(t.completion_tokens)]
        for t in u.tokens
    ]
    return table(rows, ["day", "model", "replies", "prompt tok", "completion tok"])


def _speed_table(u: UsageStats) -> str:
    rows = [
        [s.day, s.model, number(s.ttft_p50_ms), number(s.ttft_p95_ms), number(s.decode_tok_s)]
        for s in u.speed
    ]
    return table(rows, ["day", "model", "TTFT p50 ms", "TTFT p95 ms", "decode tok/s"])


def _stages_table(u: UsageStats) -> str:
    total = sum(s.total_ms for s in u.stages) or 1.0
    rows = [
        [s.stage, str(s.count), number(s.mean_ms), f"{100 * s.total_ms / total:.0f}%"]
        for s in u.stages
    ]
    return table(rows, ["stage", "runs", "ms per answer", "share"])


def _thumbs_table(u: UsageStats) -> str:
    rows = [
        [
            t.prompt,
            t.kind,
            str(t.up),
            str(t.down),
            number(None if t.ratio is None else t.ratio * 100, "%"),
        ]
        for t in u.thumbs
    ]
    return table(rows, ["prompt", "kind", "up", "down", "up share"])
