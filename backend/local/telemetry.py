"""The telemetry service: the request log and per-model statistics."""

from __future__ import annotations

from backend.local.core import Core
from backend.store.records import ModelStats, RequestRecord


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
