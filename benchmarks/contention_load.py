"""The background work ``contention.py`` replies beside: a busy core, the
same backend indexing, ``assistant index`` in another process on the same
data folder, and a tune-up. Each context yields a ``running()`` check (is
the work still going?) so a reply measured after it ended is flagged."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from inputs import CORPUS

from backend.local.backend import Backend

ROOT = Path(__file__).resolve().parent.parent


def corpus_copy(root: Path, docs: int) -> Path:
    folder = root / "docs"
    folder.mkdir()
    pages = sorted(CORPUS.glob("library/*.html"))[:docs]
    for page in pages:
        shutil.copy(page, folder / page.name)
    return folder


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    cmd = [sys.executable, "-c", "while True: pass"]
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        cmd = ["taskset", "-c", "1", *cmd]
    proc = subprocess.Popen(cmd)
    try:
        time.sleep(1.0)
        yield
    finally:
        proc.kill()
        proc.wait()


@contextlib.asynccontextmanager
async def indexing_here(backend: Backend, folder: Path) -> AsyncIterator[dict[str, Any]]:
    await backend.documents.add_folder(str(folder))
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def progress(p: Any) -> None:
        if p.done >= 1:
            loop.call_soon_threadsafe(started.set)

    result: dict[str, Any] = {}
    task = asyncio.create_task(backend.documents.index(progress=progress))
    await asyncio.wait_for(started.wait(), 120)
    result["running"] = lambda: not task.done()
    yield result
    summary = await task
    del result["running"]
    result.update(chunks=summary.chunks, seconds=summary.seconds, yielded_s=summary.yielded_s)


@contextlib.contextmanager
def indexing_elsewhere(home: Path, folder: Path) -> Iterator[Callable[[], bool]]:
    env = {**os.environ, "ASSISTANT_HOME": str(home), "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "assistant.cli"]
    subprocess.run([*cli, "folders", "add", str(folder)], env=env, check=True,
                   capture_output=True)  # fmt: skip
    proc = subprocess.Popen([*cli, "index"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _has_chunks(home):
            time.sleep(0.5)
        yield lambda: proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _has_chunks(home: Path) -> bool:
    from backend.store.db import Database

    try:
        db = Database(home / "assistant.db")
    except Exception:
        return False
    try:
        row = db.query_one("SELECT count(*) AS n FROM chunks")
        return bool(row and row["n"])
    except Exception:
        return False
    finally:
        db.close()


@contextlib.asynccontextmanager
async def tuning(backend: Backend) -> AsyncIterator[Callable[[], bool]]:
    from tuneup import build_history

    await build_history(backend.locations, turns=40, per_chat=4)
    job = await backend.tuneups.start_tuneup("sft", steps=400)
    updates = job.updates()
    async for update in updates:
        if update.event == "progress" or update.final:
            break
    try:
        yield lambda: bool(job.running)
    finally:
        job.cancel()
        async for update in updates:
            if update.final:
                break
