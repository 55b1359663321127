"""The tune-ups service: start one, follow it, cancel it; list adapters,
activate one (only if its before/after evaluation says it helps, unless
forced), roll back.

Which base a tune-up trains (``TuneupBase``): a llama.cpp model's GGUF
file, or a transformers model's Hugging Face folder. For the latter the
job trains in the form the runtime serves: its entry's ``quantization``
when that is 4/8-bit (the adapter learns against the very weights it is
applied to), else ``auto`` (QLoRA on CUDA, plain LoRA on the CPU), on the
entry's ``device``. Its run holds a peft adapter and no GGUF, which the
transformers runtime applies when the run is activated."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from backend.common.cores import background_threads
from backend.common.errors import ModelError
from backend.local.core import Core
from backend.local.models import ModelService
from backend.modelfiles import adapters as adapter_store
from backend.modelfiles.adapters import Adapter
from backend.modelfiles.catalog import ModelInfo
from backend.tuneup.job import TuneupJob, job_command
from backend.tuneup.records import TuneupBusyError

METHODS = ("sft", "dpo")
TRANSFORMERS_RUNTIME = "transformers"


@dataclass(frozen=True)
class TuneupBase:
    """What a tune-up of one model trains on (see the module docstring)."""

    info: ModelInfo
    path: Path
    kind: str
    """``gguf`` or ``hf``."""
    quantize: str | None = None
    device: str | None = None


class TuneupService:
    """Implements ``backend.api.contract.TuneupsAPI``. One tune-up runs at a
    time; the current (or last) job is kept."""

    def __init__(self, core: Core, models: ModelService) -> None:
        self._core = core
        self._models = models
        self._job: TuneupJob | None = None

    def _base_of(self, model: str | None) -> TuneupBase:
        _, info = self._models.resolve(model)
        if info.runtime == TRANSFORMERS_RUNTIME and info.path is not None and info.path.is_dir():
            entry = next((e for e in self._core.settings.hf_models if e.name == info.name), None)
            quantize = entry.quantization if entry and entry.quantization != "none" else "auto"
            return TuneupBase(info, info.path, "hf", quantize, entry.device if entry else None)
        if info.path is None or info.path.suffix.lower() != ".gguf":
            raise ModelError(
                f"{info.name} is not a local GGUF model or a Hugging Face model folder: "
                "tune-ups train a llama.cpp or transformers model the assistant runs itself"
            )
        return TuneupBase(info, info.path, "gguf")

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
            ModelError: the model is neither a local GGUF nor a transformers
                model folder.
            ValueError: unknown method.
        """
        if method not in METHODS:
            raise ValueError(f"unknown tune-up method {method!r}; use one of {METHODS}")
        if self._job is not None and self._job.running:
            raise TuneupBusyError("a tune-up is already running; cancel it first")
        base = await self._core.run(self._base_of, model)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        command = job_command(
            self._core.locations.home, base.info.name, base.path, method, exclude, steps, dry_run,
            base_kind=base.kind, quantize=base.quantize, device=base.device,
            threads=background_threads(),
        )  # fmt: skip
        self._job = TuneupJob(command, self._core.locations.logs / f"tuneup-{stamp}.log")
        return self._job

    async def current_tuneup(self) -> TuneupJob | None:
        return self._job

    def cancel_tuneup(self) -> None:
        if self._job is not None:
            self._job.cancel()

    async def list_adapters(self, model: str | None = None) -> list[Adapter]:
        return await self._core.run(adapter_store.adapters, self._core.locations, model)

    async def activate_adapter(self, run_id: str, *, force: bool = False) -> Adapter:
        """Raises: NotFoundError, AdapterError (see ``backend.modelfiles.adapters.activate``)."""
        return await self._core.run(
            adapter_store.activate, self._core.locations, run_id, force=force
        )

    async def deactivate_adapter(self, model: str | None = None) -> bool:
        """Roll ``model`` (default: the default model) back to its base weights."""

        def run() -> bool:
            _, info = self._models.resolve(model)
            return adapter_store.deactivate(self._core.locations, info.name)

        return await self._core.run(run)
