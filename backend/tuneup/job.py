"""Running a tune-up: the trainer in its own process, followed from here.

Training takes minutes of both cores and gigabytes of memory, and torch in
the TUI's process would make every frame wait on the GIL, so a tune-up is a
child process (``python -m trainer.job``; the backend never imports the
trainer). It reports on stdout, one JSON object per line::

    {"event": "dataset", ...summary}       what will be used
    {"event": "progress", "step", "total", "loss", "eta_s"}
    {"event": "eval", ...}                 before/after figures
    {"event": "done", "run_dir", "verdict"}
    {"event": "error", "type", "title", "message"}
    {"event": "cancelled"}

Cancelling sends SIGTERM (the job removes its half-written run directory);
if this process dies, the job's stdin closes and it cancels itself;
the child's stderr goes to ``logs/tuneup-<time>.log``. A job that dies
without a final event (killed, out of memory) ends as an ``error`` naming
its exit code and the log file. One tune-up runs at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from backend.tuneup.records import TuneupJobHandle, TuneupUpdate

TUNEUP_NICE = 10
"""How far a tune-up lowers its own priority: replies come first."""


def job_command(
    home: Path,
    model: str,
    base: Path,
    method: str,
    exclude: Sequence[int] = (),
    steps: int | None = None,
    dry_run: bool = False,
    *,
    base_kind: str = "gguf",
    quantize: str | None = None,
    device: str | None = None,
    nice: int = TUNEUP_NICE,
    threads: int | None = None,
) -> list[str]:
    """The job's command line: ``base`` is a GGUF file (``base_kind``
    ``gguf``: a llama.cpp model) or a Hugging Face folder (``hf``: a
    transformers model, which ``quantize``/``device`` may load 4/8-bit).
    The job runs ``nice``-d, with ``threads`` torch threads, and stands
    aside between steps while a reply is being generated."""
    cmd = [sys.executable, "-m", "trainer.job", "--home", str(home), "--model", model]
    flag = "--base-hf" if base_kind == "hf" else "--base-gguf"
    cmd += [flag, str(base), "--method", method]
    if quantize is not None:
        cmd += ["--quantize", quantize]
    if device is not None:
        cmd += ["--device", device]
    for conversation_id in exclude:
        cmd += ["--exclude", str(conversation_id)]
    if steps is not None:
        cmd += ["--steps", str(steps)]
    if dry_run:
        cmd.append("--dry-run")
    if nice:
        cmd += ["--nice", str(nice)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    return cmd


def parse_line(line: str) -> TuneupUpdate | None:
    """A report line as an update; None for anything that is not one (a
    library printing to stdout must not break the job's report)."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        return None
    event = data.pop("event")
    return TuneupUpdate(event, data)


class TuneupJob(TuneupJobHandle):
    """A running tune-up: ``updates()`` yields its reports until a final one
    (the local ``TuneupJobHandle``)."""

    def __init__(self, command: list[str], log_path: Path) -> None:
        self.command = command
        self.log_path = log_path
        self.started = time.time()
        self._last: TuneupUpdate | None = None
        self._queue: asyncio.Queue[TuneupUpdate] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        self._proc = subprocess.Popen(
            command,
            # a pipe we never write to: if this process dies, the job sees
            # end-of-file and cancels itself instead of training for nobody
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,  # Ctrl-C in the terminal is the TUI's, not the job's
        )
        self._cancelled = False
        self._finished = False
        self._reader = threading.Thread(target=self._read, name="tuneup-reader", daemon=True)
        self._reader.start()

    @property
    def last(self) -> TuneupUpdate | None:
        return self._last

    @property
    def running(self) -> bool:
        """Until its final report (the process may take a moment longer to
        exit; a new job need not wait for that)."""
        return not self._finished and self._proc.poll() is None

    def _post(self, update: TuneupUpdate) -> None:
        self._loop.call_soon_threadsafe(self._queue.put_nowait, update)

    def _read(self) -> None:
        final = False
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            update = parse_line(raw.decode("utf-8", errors="replace"))
            if update is None:
                continue
            final = final or update.final
            self._finished = final
            self._post(update)
        code = self._proc.wait()
        self._log.close()
        if not final:
            if self._cancelled:
                self._post(TuneupUpdate("cancelled"))
            else:
                self._post(
                    TuneupUpdate(
                        "error",
                        {
                            "title": "Tune-up failed",
                            "message": f"the training process exited with code {code} "
                            f"without a result; see {self.log_path}",
                        },
                    )
                )

    async def updates(self) -> AsyncIterator[TuneupUpdate]:
        """Every report until (and including) the final one."""
        while True:
            update = await self._queue.get()
            self._last = update
            yield update
            if update.final:
                return

    def cancel(self) -> None:
        """Ask the job to stop (it cleans up and reports ``cancelled``)."""
        self._cancelled = True
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """Stop it now."""
        self._cancelled = True
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
