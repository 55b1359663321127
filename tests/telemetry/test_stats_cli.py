"""``assistant stats``: the period argument, the JSON and the text report,
in-process on a request log written through the store (the fake runtime)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import pytest

from assistant.cli import main
from assistant.cli.stats import since_arg
from backend import Backend
from backend.common.config import Settings
from backend.common.locations import Locations
from backend.runtimes.fake import FakeRuntime


def test_since_arg() -> None:
    now = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    assert since_arg("7d", now) == "2026-03-01T12:00:00+00:00"
    assert since_arg("36h", now) == "2026-03-07T00:00:00+00:00"
    assert since_arg("2026-03-01") == "2026-03-01T00:00:00+00:00"
    assert since_arg("all") is None
    with pytest.raises(argparse.ArgumentTypeError, match="7d"):
        since_arg("a week")


async def _two_grounded_replies(locations: Locations) -> None:
    """Two replies on the fake model; the first grounded (a retrieve row)
    and thumbed up, the second thumbed down."""
    backend = await Backend.open(
        locations=locations, settings=Settings(default_model="fake-model"), runtimes=[FakeRuntime()]
    )
    try:
        saved = []
        for text in ("hello there", "and again"):
            conv = await backend.conversations.create_conversation(preset="Concise")
            saved.append((await (await backend.chat.send(conv.id, text)).collect())[-1])
        log = backend.core.stores.requests
        first = await backend.telemetry.request_log(conversation_id=None)
        generate = next(r for r in first if r.message_id == saved[0].message_id)  # type: ignore[attr-defined]
        log.record(
            runtime="rag", model="", usage=None, stop_reason="stop", stage="retrieve",
            parent_request_id=generate.id, total_ms=40.0,
        )  # fmt: skip
        await backend.conversations.rate(saved[0].message_id, 1)  # type: ignore[attr-defined]
        await backend.conversations.rate(saved[1].message_id, -1)  # type: ignore[attr-defined]
    finally:
        await backend.close()


async def test_stats_json_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    import os

    locations = Locations.from_path(os.environ["ASSISTANT_HOME"])
    await _two_grounded_replies(locations)

    assert await _run(["stats", "--since", "1d", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["models"][0]["model"] == "fake-model" and out["models"][0]["requests"] == 2
    (day,) = out["tokens"]
    assert day["model"] == "fake-model" and day["requests"] == 2 and day["completion_tokens"] > 0
    assert out["speed"][0]["ttft_p50_ms"] is not None
    assert out["grounded_answers"] == 1
    assert [s["stage"] for s in out["stages"]] == ["retrieve", "generate"]
    (thumbs,) = out["thumbs"]
    assert thumbs["prompt"].startswith("preset:Concise@") and thumbs["kind"] == "version"
    assert (thumbs["up"], thumbs["down"], thumbs["ratio"]) == (1, 1, 0.5)

    assert await _run(["stats"]) == 0
    text = capsys.readouterr().out
    for heading in ("Per model", "Tokens per day", "Speed per model per day", "grounded answer"):
        assert heading in text
    assert "Concise" in text and "50.0%" in text


async def _run(argv: list[str]) -> int:
    """``main`` runs its own event loop: call it from a worker thread."""
    import asyncio

    return await asyncio.to_thread(main, argv)
