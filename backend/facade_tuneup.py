"""Tune-ups in the facade: start one, follow it, cancel it; list adapters,
activate one (only if its before/after evaluation says it helps, unless
forced), roll back. ``Backend`` inherits these."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from backend import adapters as adapter_store
from backend.adapters import Adapter
from backend.errors import ModelError
from backend.runtimes.base import ModelInfo, Runtime
from backend.tuneup import TuneupBusyError, TuneupJob, job_command

if TYPE_CHECKING:
    from backend.locations import Locations

T = TypeVar("T")

METHODS = ("sft", "dpo")


class TuneupMethods:
    locations: Locations
    _tuneup: TuneupJob | None = None

    if TYPE_CHECKING:

        async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

        def _resolve_model(self, name: str | None) -> tuple[Runtime, ModelInfo]: ...

    def _tuneup_base(self, model: str | None) -> ModelInfo:
        _, info = self._resolve_model(model)
        if info.path is None or info.path.suffix.lower() != ".gguf":
            raise ModelError(
                f"{info.name} is not a local GGUF model: tune-ups train the llama.cpp model "
                "the assistant serves"
            )
        return info

    async def start_tuneup(
        self,
        method: str = "sft",
        *,
        model: str | None = None,
        exclude: Sequence[int] = (),
        steps: int | None = None,
        dry_run: bool = False,
    ) -> TuneupJob:
        """Start a tune-up of ``model`` (default: the default model) in its
        own process; ``dry_run`` only reports the dataset it would use.

        Raises:
            TuneupBusyError: one is running.
            ModelError: the model is not a local GGUF.
            ValueError: unknown method.
        """
        if method not in METHODS:
            raise ValueError(f"unknown tune-up method {method!r}; use one of {METHODS}")
        if self._tuneup is not None and self._tuneup.running:
            raise TuneupBusyError("a tune-up is already running; cancel it first")
        info = await self._run(self._tuneup_base, model)
        assert info.path is not None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        command = job_command(
            self.locations.home, info.name, info.path, method, exclude, steps, dry_run
        )
        self._tuneup = TuneupJob(command, self.locations.logs / f"tuneup-{stamp}.log")
        return self._tuneup

    @property
    def tuneup(self) -> TuneupJob | None:
        """The current (or last) tune-up job."""
        return self._tuneup

    def cancel_tuneup(self) -> None:
        if self._tuneup is not None:
            self._tuneup.cancel()

    async def list_adapters(self, model: str | None = None) -> list[Adapter]:
        return await self._run(adapter_store.adapters, self.locations, model)

    async def activate_adapter(self, run_id: str, *, force: bool = False) -> Adapter:
        """Raises: NotFoundError, AdapterError (see ``backend.adapters.activate``)."""
        return await self._run(adapter_store.activate, self.locations, run_id, force=force)

    async def deactivate_adapter(self, model: str | None = None) -> bool:
        """Roll ``model`` (default: the default model) back to its base weights."""

        def run() -> bool:
            _, info = self._resolve_model(model)
            return adapter_store.deactivate(self.locations, info.name)

        return await self._run(run)
