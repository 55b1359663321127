"""``TelemetryAPI.usage_stats``: the request log shaped for charts, on rows
with known days, times and votes (written through the store, then dated)."""

from __future__ import annotations

from backend import Backend
from backend.common.events import Usage
from backend.store.requests import RequestLog


def _dated(log: RequestLog, created_at: str, **row: object) -> int:
    rid = log.record(**row)  # type: ignore[arg-type]
    with log.db.transaction() as c:
        c.execute("UPDATE requests SET created_at = ? WHERE id = ?", (created_at, rid))
    return rid


def _usage(prompt: int, completion: int, ttft: float, decode: float, total: float) -> Usage:
    return Usage(prompt, completion, ttft, total, decode_tok_s=decode)


async def test_days_speed_stages_and_thumbs(backend: Backend) -> None:
    log = backend.core.stores.requests
    gen = {"runtime": "llamacpp", "stop_reason": "stop"}
    _dated(
        log, "2026-01-01T09:00:00.000+00:00", model="small", usage=_usage(900, 1, 5, 9, 99), **gen
    )
    d1 = "2026-03-01T10:00:00.000+00:00"
    g1 = _dated(log, d1, model="small", usage=_usage(100, 10, 100, 20, 600), **gen)
    _dated(log, d1, model="small", usage=_usage(200, 20, 300, 40, 800), **gen)
    _dated(
        log, d1, model="small", usage=None, error="boom", runtime="llamacpp", stop_reason="error"
    )
    _dated(log, d1, model="big", usage=_usage(50, 5, 900, 5, 2000), **gen)
    d2 = "2026-03-02T23:59:00.000+00:00"
    g2 = _dated(log, d2, model="small", usage=_usage(300, 30, 200, 30, 400), **gen)
    for parent, ms in ((g1, 50.0), (g2, 70.0)):
        stage = {"runtime": "rag", "model": "", "usage": None, "parent_request_id": parent}
        _dated(log, d2, stage="retrieve", total_ms=ms, stop_reason="stop", **stage)
    _dated(log, d2, stage="rewrite", total_ms=120.0, stop_reason="stop", **stage)

    stats = await backend.telemetry.usage_stats(since="2026-02-01T00:00:00")

    assert stats.since == "2026-02-01T00:00:00.000+00:00"
    # the January row is before the period
    assert [
        (t.day, t.model, t.requests, t.prompt_tokens, t.completion_tokens) for t in stats.tokens
    ] == [
        ("2026-03-01", "big", 1, 50, 5),
        ("2026-03-01", "small", 3, 300, 30),  # the failed call counts, with no tokens
        ("2026-03-02", "small", 1, 300, 30),
    ]
    day1 = next(s for s in stats.speed if s.day == "2026-03-01" and s.model == "small")
    assert day1.requests == 2  # the failed call has no speed
    assert day1.ttft_p50_ms == 200 and day1.ttft_p95_ms == 290
    assert day1.decode_tok_s == 30
    # two grounded answers (g1 and g2 have a retrieve row; the others do not)
    assert stats.grounded_answers == 2
    by_stage = {s.stage: s for s in stats.stages}
    assert [s.stage for s in stats.stages] == ["retrieve", "rewrite", "generate"]
    assert by_stage["retrieve"].total_ms == 120 and by_stage["retrieve"].count == 2
    assert by_stage["generate"].total_ms == 1000 and by_stage["generate"].mean_ms == 500
    assert by_stage["rewrite"].mean_ms == 60

    everything = await backend.telemetry.usage_stats()
    assert sum(t.requests for t in everything.tokens) == 6


async def test_thumbs_ratio_per_prompt_version(backend: Backend) -> None:
    async def reply(preset: str | None, rating: int) -> None:
        conv = await backend.conversations.create_conversation(preset=preset)
        saved = (await (await backend.chat.send(conv.id, "hello")).collect())[-1]
        await backend.conversations.rate(saved.message_id, rating)  # type: ignore[attr-defined]

    for preset, rating in [("Concise", 1), ("Concise", 1), ("Concise", -1), ("Coder", -1)]:
        await reply(preset, rating)
    await reply(None, 0)  # cleared: not a vote

    stats = await backend.telemetry.usage_stats()
    thumbs = {(t.prompt.split("@")[0], t.kind): (t.up, t.down, t.ratio) for t in stats.thumbs}
    assert thumbs == {
        ("preset:Coder", "version"): (0, 1, 0.0),
        ("preset:Concise", "version"): (2, 1, 2 / 3),
    }
    versions = {v.label for v in await backend.telemetry.prompt_versions()}
    assert {t.prompt for t in stats.thumbs} <= versions  # grouped by the stored versions


async def test_thumbs_without_versions_fall_back_to_the_preset(backend: Backend) -> None:
    conv = await backend.conversations.create_conversation(preset="Coder")
    saved = (await (await backend.chat.send(conv.id, "hello")).collect())[-1]
    await backend.conversations.rate(saved.message_id, 1)  # type: ignore[attr-defined]
    with backend.core.stores.db.transaction() as c:  # as if logged before versions
        c.execute("DELETE FROM request_prompts")
    stats = await backend.telemetry.usage_stats()
    assert [(t.prompt, t.kind, t.up) for t in stats.thumbs] == [("Coder", "preset", 1)]


async def test_a_bad_since_is_a_value_error(backend: Backend) -> None:
    import pytest

    with pytest.raises(ValueError, match="ISO-8601"):
        await backend.telemetry.usage_stats(since="last week")
