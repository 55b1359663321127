"""The model library service: the catalog with fit labels for this machine,
Hub search, pulls, Ollama pulls and removal (``backend.modelhub``).

Hub work runs in a worker process (``backend.modelhub.worker``): this
process keeps ``HF_HUB_OFFLINE=1`` so its local models never reach for the
Hub (``backend.common.hf_offline``), while the worker asked for a download
or a search goes online; a killed worker leaves only a partial file that
the next pull resumes. What fits is measured once per backend (RAM, GPU
memory, free disk) and again after a pull or removal changes the disk.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from backend.local.core import Core
from backend.modelhub.catalog import load_catalog
from backend.modelhub.installed import installed_folders
from backend.modelhub.machine import Machine, detect_machine
from backend.modelhub.offers import Offer, QuantFit, offers, quant_fits
from backend.modelhub.ollama_pull import ollama_pull
from backend.modelhub.progress import PullProgress
from backend.modelhub.records import HubModel, InstalledFolder, PullResult, Removed
from backend.modelhub.remove import remove_model
from backend.modelhub.worker import pull_in_subprocess, quants_in_subprocess, search_in_subprocess


class LibraryService:
    """Implements ``backend.api.contract.LibraryAPI``."""

    def __init__(self, core: Core) -> None:
        self._core = core
        self._machine: Machine | None = None

    def _measured(self) -> Machine:
        if self._machine is None:
            self._machine = detect_machine(self._core.locations.models)
        return self._machine

    def _n_ctx(self) -> int:
        return self._core.settings.llama.n_ctx

    async def machine(self) -> Machine:
        return await self._core.run(self._measured)

    async def offers(self) -> list[Offer]:
        def run() -> list[Offer]:
            return offers(self._measured(), load_catalog(), self._n_ctx())

        return await self._core.run(run)

    async def search(self, query: str, limit: int = 20) -> list[HubModel]:
        if not query.strip():
            raise ValueError("search for what? (a model name, e.g. qwen2.5)")
        return await self._core.run(search_in_subprocess, query.strip(), limit)

    async def quants(self, repo: str) -> list[QuantFit]:
        def run() -> list[QuantFit]:
            options = quants_in_subprocess(repo)
            return quant_fits(repo, options, self._measured(), self._n_ctx())

        return await self._core.run(run)

    async def pull(
        self,
        spec: str,
        *,
        quant: str | None = None,
        progress: Callable[[PullProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> PullResult:
        def run() -> PullResult:
            try:
                return pull_in_subprocess(
                    spec,
                    quant=quant,
                    locations=self._core.locations,
                    on_progress=progress,
                    cancel=cancel,
                )
            finally:
                self._machine = None  # the free disk changed

        return await self._core.run(run)

    async def pull_ollama(
        self,
        model: str,
        *,
        progress: Callable[[PullProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        host = self._core.settings.ollama.host
        await self._core.run(ollama_pull, model, host, on_progress=progress, cancel=cancel)

    async def installed_folders(self) -> list[InstalledFolder]:
        return await self._core.run(installed_folders, self._core.models_dirs())

    async def remove(self, name: str) -> Removed:
        def run() -> Removed:
            removed = remove_model(name, self._core.locations, self._core.settings)
            self._machine = None
            return removed

        return await self._core.run(run)
