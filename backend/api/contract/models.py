"""Contract: models in use (runtimes, adapters) and the model library (find, fit, pull, remove)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from backend.modelfiles.catalog import ModelInfo
from backend.modelhub.machine import Machine
from backend.modelhub.offers import Offer, QuantFit
from backend.modelhub.progress import PullProgress
from backend.modelhub.records import HubModel, InstalledFolder, PullResult, Removed
from backend.runtimes.status import RuntimeStatus


class ModelsAPI(Protocol):
    """The models every runtime offers."""

    async def list_models(self) -> list[ModelInfo]:
        """Every model every available runtime can run."""
        ...

    async def runtime_status(self) -> list[RuntimeStatus]:
        """Every runtime, loaded or not, with how many models it offers and
        why it offers none."""
        ...

    async def default_model(self) -> ModelInfo:
        """The model new conversations use (the configured one, or the first
        available when that one is gone).

        Raises:
            ModelError: no model is available at all.
        """
        ...


class LibraryAPI(Protocol):
    """Getting models: the curated catalog with what fits this machine,
    Hugging Face search, pulls that resume and verify, Ollama pulls, and
    removal. Nothing is downloaded unless asked for."""

    async def machine(self) -> Machine:
        """This machine as the fit labels see it: RAM, GPU memory, free disk."""
        ...

    async def offers(self) -> list[Offer]:
        """Every catalog model, each quantization labelled "fits", "slow" or
        "won't fit" here (with the estimate's basis), the recommended pick
        marked."""
        ...

    async def search(self, query: str, limit: int = 20) -> list[HubModel]:
        """GGUF repos on the Hugging Face Hub matching ``query``.

        Raises:
            HubUnreachableError: no answer from the Hub.
        """
        ...

    async def quants(self, repo: str) -> list[QuantFit]:
        """A Hub repo's GGUF quantizations with sizes and fit labels.

        Raises:
            ModelNotFoundError, GatedRepoError, HubUnreachableError.
        """
        ...

    async def pull(
        self,
        spec: str,
        *,
        quant: str | None = None,
        progress: Callable[[PullProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> PullResult:
        """Download, verify (SHA-256) and register a model: a catalog short
        name or a Hub repo id; ``quant`` picks the quantization (default: the
        catalog's, or the repo's best that fits). An interrupted pull resumes
        from its partial file; ``cancel`` keeps the partial and registers
        nothing. The model is in ``list_models`` as soon as this returns.

        Raises:
            ChecksumMismatchError, NotEnoughDiskError, HubUnreachableError,
            ModelNotFoundError, QuantNotFoundError, GatedRepoError,
            PullCancelledError, PullInProgressError.
        """
        ...

    async def pull_ollama(
        self,
        model: str,
        *,
        progress: Callable[[PullProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """``ollama pull`` on the configured Ollama server.

        Raises:
            HubUnreachableError: no Ollama server answers.
        """
        ...

    async def installed_folders(self) -> list[InstalledFolder]:
        """The model folders pulled into the models folders (embedders and
        cross-encoder rerankers, kind in each); GGUF chat models are in
        ``ModelsAPI.list_models``."""
        ...

    async def remove(self, name: str) -> Removed:
        """Delete a downloaded model (every part) and say how much space it freed.

        Raises:
            RemoveRefusedError: the bundled model, or a file the library did
                not download.
            ModelNotFoundError: no such model.
        """
        ...
