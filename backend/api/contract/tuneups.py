"""Contract: tune-up jobs: start, follow, cancel, adapters they produce."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from backend.modelfiles.adapters import Adapter
from backend.tuneup.records import TuneupJobHandle


class TuneupsAPI(Protocol):
    """Tune-ups (LoRA/DPO from the user's feedback) and their adapters."""

    async def start_tuneup(
        self,
        method: str = "sft",
        *,
        model: str | None = None,
        exclude: Sequence[int] = (),
        steps: int | None = None,
        dry_run: bool = False,
    ) -> TuneupJobHandle:
        """Start a tune-up of ``model`` (default: the default model) in its
        own process; ``dry_run`` only reports the dataset it would use.

        Raises:
            TuneupBusyError: one is running (``current_tuneup`` returns it).
            ModelError: not a local GGUF or a transformers model folder.
            ValueError: unknown method.
        """
        ...

    async def current_tuneup(self) -> TuneupJobHandle | None:
        """The running (or last) tune-up, if any."""
        ...

    def cancel_tuneup(self) -> None:
        """Stop the running tune-up, if any."""
        ...

    async def list_adapters(self, model: str | None = None) -> list[Adapter]: ...

    async def activate_adapter(self, run_id: str, *, force: bool = False) -> Adapter:
        """Use a tune-up's adapter (only if its evaluation says it helps,
        unless ``force``).

        Raises:
            NotFoundError, AdapterError.
        """
        ...

    async def deactivate_adapter(self, model: str | None = None) -> bool:
        """Roll ``model`` (default: the default model) back to its base weights."""
        ...
