"""Download progress as one small record, whatever is downloading.

Hugging Face downloads report through huggingface_hub's ``tqdm_class`` hook
(``http_get`` instantiates the class with ``total``/``initial`` and calls
``update(n)`` per chunk); Ollama pulls report through their NDJSON stream.
Both end up as ``PullProgress`` records handed to the caller's callback, so
the CLI's progress bar and the TUI's screen have one shape to draw.

Speed is measured over the last few seconds (a resumed download does not
count the bytes it already had), and the ETA follows from it. The meter is
also where cancellation is noticed: ``update`` raises ``PullCancelledError``
when the cancel event is set, which unwinds huggingface_hub's download loop
with the partial file flushed and kept for a later resume.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backend.modelhub.errors import PullCancelledError

SPEED_WINDOW_S = 5.0


@dataclass(frozen=True)
class PullProgress:
    """Where one file's download stands.

    ``done_bytes``/``total_bytes`` are for ``file`` (``total_bytes`` is None
    when unknown). ``speed_bps`` is bytes per second over the last few
    seconds (None until measurable); ``eta_s`` the seconds left at that speed.
    ``status`` is ``downloading``, ``verifying`` or ``done`` for Hub files,
    and Ollama's own status text (``pulling manifest``...) for Ollama pulls.
    ``part``/``parts`` number the files of a multi-file pull (1-based).
    """

    file: str
    done_bytes: int
    total_bytes: int | None
    speed_bps: float | None = None
    eta_s: float | None = None
    status: str = "downloading"
    part: int = 1
    parts: int = 1

    @property
    def fraction(self) -> float | None:
        """Done share of the file in [0, 1], or None when the size is unknown."""
        if not self.total_bytes:
            return None
        return min(1.0, self.done_bytes / self.total_bytes)


ProgressCallback = Callable[[PullProgress], None]


class ProgressMeter:
    """Turns byte counts into ``PullProgress`` records, and checks for cancel.

    One meter serves one pull; ``start_file`` begins each file.
    """

    def __init__(
        self,
        callback: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.callback = callback
        self.cancel = cancel
        self.clock = clock
        self.file = ""
        self.done = 0
        self.total: int | None = None
        self.part = 1
        self.parts = 1
        self.transferred = 0
        """Bytes received over the network during this pull (all files)."""
        self._samples: deque[tuple[float, int]] = deque()

    def check_cancel(self) -> None:
        """Raise ``PullCancelledError`` if the cancel event is set."""
        if self.cancel is not None and self.cancel.is_set():
            raise PullCancelledError(
                f"The download of {self.file or 'the model'} was cancelled; nothing was "
                "registered. Pulling it again resumes from the partial file."
            )

    def start_file(
        self, file: str, done: int, total: int | None, part: int = 1, parts: int = 1
    ) -> None:
        """Begin reporting on ``file``, ``done`` bytes of it already on disk."""
        self.file, self.done, self.total = file, done, total
        self.part, self.parts = part, parts
        self._samples.clear()
        self._samples.append((self.clock(), done))
        self.emit()

    def set_done(self, done: int, total: int | None = None) -> None:
        """Reset the byte count (huggingface_hub restarted or resumed the file)."""
        self.done = done
        if total is not None:
            self.total = total
        self._samples.clear()
        self._samples.append((self.clock(), done))

    def advance(self, n: int) -> None:
        """Honour a cancel, else count ``n`` more bytes received and report.

        ``http_get`` calls this (through ``update``) *before* writing the
        chunk, so the cancel check comes first: a chunk that was reported is
        always written, and what a cancel leaves on disk is what was reported.
        """
        self.check_cancel()
        self.done += n
        self.transferred += n
        now = self.clock()
        self._samples.append((now, self.done))
        while len(self._samples) > 2 and now - self._samples[0][0] > SPEED_WINDOW_S:
            self._samples.popleft()
        self.emit()

    def speed(self) -> float | None:
        """Bytes per second over the sample window, or None if too early."""
        if len(self._samples) < 2:
            return None
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        if t1 - t0 < 0.05:
            return None
        return max(0.0, (b1 - b0) / (t1 - t0))

    def emit(self, status: str = "downloading") -> None:
        """Send the current state to the callback (if any)."""
        if self.callback is None:
            return
        speed = self.speed()
        eta = None
        if speed and self.total is not None:
            eta = max(0.0, (self.total - self.done) / speed)
        self.callback(
            PullProgress(
                file=self.file,
                done_bytes=self.done,
                total_bytes=self.total,
                speed_bps=speed,
                eta_s=eta,
                status=status,
                part=self.part,
                parts=self.parts,
            )
        )

    def tqdm_class(self) -> Callable[..., _MeterBar]:
        """A stand-in for huggingface_hub's ``tqdm_class`` that feeds this meter.

        ``http_get`` calls it as ``cls(unit=, unit_scale=, total=, initial=,
        desc=)`` (it only injects tqdm's own options into subclasses of its
        tqdm, which this is not), enters it as a context manager and calls
        ``update(n)`` for every chunk written.
        """
        meter = self

        def factory(**kwargs: Any) -> _MeterBar:
            return _MeterBar(meter, kwargs.get("total"), int(kwargs.get("initial") or 0))

        return factory


class _MeterBar:
    """The minimal tqdm surface ``http_get`` uses, forwarding to a meter."""

    def __init__(self, meter: ProgressMeter, total: int | None, initial: int) -> None:
        self.meter = meter
        meter.set_done(initial, total)

    def update(self, n: int | float = 1) -> None:
        # A negative update is http_get rolling back after a server ignored
        # the Range header: the file restarts from zero.
        if n < 0:
            self.meter.set_done(max(0, self.meter.done + int(n)))
            return
        self.meter.advance(int(n))

    def close(self) -> None:
        pass

    def __enter__(self) -> _MeterBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
