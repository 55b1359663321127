"""A tune-up leaves the chat its cores: the job lowers its own priority and
uses fewer torch threads than the machine has cores, and says so (the real
``trainer.job`` process, started by the backend)."""

from __future__ import annotations

import asyncio
import contextlib

import psutil

from backend.common.config import Settings
from backend.common.cores import background_threads
from backend.common.locations import Locations
from backend.local.backend import Backend
from backend.tuneup.job import TUNEUP_NICE, TuneupJob
from backend.tuneup.records import describe


async def test_the_job_runs_niced_with_the_threads_it_reports(locations: Locations) -> None:
    settings = Settings.model_validate({"ollama": {"enabled": False}})
    backend = await Backend.open(locations=locations, settings=settings)
    try:
        job = await backend.tuneups.start_tuneup("sft", dry_run=True)
        assert isinstance(job, TuneupJob)
        process = psutil.Process(job._proc.pid)
        seen: list[int] = []

        async def watch() -> None:  # the OS's view while it runs (it renices first thing)
            with contextlib.suppress(psutil.NoSuchProcess):
                while process.is_running() and TUNEUP_NICE not in seen:
                    seen.append(process.nice())
                    await asyncio.sleep(0.02)

        watcher = asyncio.create_task(watch())
        updates = [u async for u in job.updates()]
        await watcher
    finally:
        await backend.close()
    dataset = next(u for u in updates if u.event == "dataset")
    assert dataset.data["nice"] == TUNEUP_NICE
    assert dataset.data["threads"] == background_threads()
    assert seen[-1] == TUNEUP_NICE
    assert updates[-1].event == "done" and updates[-1].data.get("dry_run")
    assert "low priority (nice 10)" in describe(dataset)
