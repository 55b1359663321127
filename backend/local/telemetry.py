"""The telemetry service: the request log and per-model statistics."""

from __future__ import annotations

from datetime import UTC, datetime

from backend.local.core import Core
from backend.store.records import ModelStats, RequestRecord, UsageStats
from backend.store.usage_stats import usage_stats


class TelemetryService:
    """Implements ``backend.api.contract.TelemetryAPI``."""

    def __init__(self, core: Core) -> None:
        self._core = core

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

    async def usage_stats(self, since: str | None = None) -> UsageStats:
        start = None if since is None else _utc_iso(since)
        return await self._core.run(usage_stats, self._core.stores.db, start)


def _utc_iso(since: str) -> str:
    """``since`` in the stored timestamps' form (UTC, ``+00:00``), so string
    comparison in SQL orders correctly."""
    try:
        when = datetime.fromisoformat(since)
    except ValueError:
        raise ValueError(f"not an ISO-8601 timestamp: {since!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds")
