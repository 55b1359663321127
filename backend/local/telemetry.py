"""The telemetry service: the request log, per-model statistics, prompt
versions, and replaying a logged request (``backend.local.replay``)."""

from __future__ import annotations

from datetime import UTC, datetime

from backend.local.core import Core
from backend.local.models import ModelService
from backend.local.replay import Replayer
from backend.store.records import (
    ModelStats,
    PromptVersion,
    ReplayResult,
    RequestDetail,
    RequestRecord,
    UsageStats,
)
from backend.store.usage_stats import usage_stats


def _as_logged(when_text: str) -> str:
    """An ISO-8601 date or date-time (naive means UTC) in the request log's
    own form (UTC, ``+00:00``, milliseconds), so SQL string comparison
    orders correctly."""
    try:
        when = datetime.fromisoformat(when_text.strip())
    except ValueError:
        raise ValueError(
            f"not a date: {when_text!r} (use an ISO-8601 date or date-time, e.g. 2026-12-01)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


class TelemetryService:
    """Implements ``backend.api.contract.TelemetryAPI``."""

    def __init__(self, core: Core, models: ModelService) -> None:
        self._core = core
        self._replayer = Replayer(core, models)

    async def stats(self) -> list[ModelStats]:
        return await self._core.run(lambda: self._core.stores.requests.stats())

    async def request_log(
        self, limit: int = 100, conversation_id: int | None = None
    ) -> list[RequestRecord]:
        return await self._core.run(
            lambda: self._core.stores.requests.recent(limit, conversation_id)
        )

    async def request(self, request_id: int) -> RequestRecord | None:
        return await self._core.run(lambda: self._core.stores.requests.get(request_id))

    async def request_detail(self, request_id: int) -> RequestDetail:
        return await self._core.run(self._replayer.detail, request_id)

    async def prompt_versions(self) -> list[PromptVersion]:
        return await self._core.run(self._core.stores.requests.prompts.listing)

    async def replay(self, request_id: int) -> ReplayResult:
        return await self._core.run(self._replayer.replay, request_id)

    async def purge_request_texts(self, before: str | None = None) -> int:
        cutoff = None if before is None else _as_logged(before)
        return await self._core.run(self._core.stores.requests.inputs.purge, cutoff)

    async def usage_stats(self, since: str | None = None) -> UsageStats:
        start = None if since is None else _as_logged(since)
        return await self._core.run(usage_stats, self._core.stores.db, start)
