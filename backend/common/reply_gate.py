"""Replies come first: a signal, shared by every process on one data folder,
that a reply is being generated, so background work (indexing, tune-ups)
steps aside until it ends.

A reply holds a *shared* ``flock`` on ``<data folder>/replying.lock`` while
its model runs; background work asks whether anyone holds it by trying an
*exclusive* lock without blocking (and letting go at once). ``flock``
locks belong to an open file, so this sees replies in this process (another
open file) and in any other (a second TUI, ``assistant serve``) alike; the
kernel drops a lock when its process dies, even by SIGKILL, so a crashed
reply never holds indexing back, and nothing ever waits on a lock it could
deadlock on: background work only polls.

On systems without ``fcntl`` (Windows) the gate sees this process's replies
only. ``ASSISTANT_REPLY_GATE=off`` in the environment makes background work
never stand aside (``benchmarks/contention.py`` measures what the gate buys
that way, in every process it starts).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

try:  # pragma: no cover - which branch runs depends on the platform
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

POLL_S = 0.05


class ReplyGate:
    """See the module docstring. ``path`` is the lock file (created on use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = 0
        self._started = 0
        """Replies begun in this process (a reply too short to be polled
        still breaks a quiet spell)."""
        self._guard = threading.Lock()

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

    @contextlib.contextmanager
    def reply(self) -> Iterator[None]:
        """Held while a reply's model runs."""
        with self._guard:
            self._local += 1
            self._started += 1
        fd = -1
        try:
            if fcntl is not None:
                with contextlib.suppress(OSError):  # a read-only folder: local only
                    fd = self._open()
                    fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            if fd >= 0:
                os.close(fd)  # closing drops the lock
            with self._guard:
                self._local -= 1

    def busy(self) -> bool:
        """Whether a reply is being generated here or in another process."""
        if os.environ.get("ASSISTANT_REPLY_GATE") == "off":
            return False
        if self._local:
            return True
        if fcntl is None:
            return False
        try:
            fd = self._open()
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            os.close(fd)
        return False

    def wait_idle(self, cancel: threading.Event | None = None) -> float:
        """Block while a reply runs (or until ``cancel``); the seconds waited."""
        waited = 0.0
        while self.busy():
            if cancel is not None and cancel.is_set():
                break
            started = time.perf_counter()
            if cancel is not None:
                cancel.wait(POLL_S)
            else:
                time.sleep(POLL_S)
            waited += time.perf_counter() - started
        return waited

    def wait_quiet(self, seconds: float, cancel: threading.Event | None = None) -> None:
        """Block until no reply has run for ``seconds`` in a row (or until
        ``cancel``): the user is reading or typing. Replies are polled every
        ``POLL_S`` through the spell, so back-to-back replies with a gap
        between them never count as quiet."""
        while not (cancel is not None and cancel.is_set()):
            self.wait_idle(cancel)
            started, since = self._started, time.monotonic()
            while time.monotonic() - since < seconds:
                if cancel is not None and cancel.wait(POLL_S):
                    return
                if cancel is None:
                    time.sleep(POLL_S)
                if self.busy() or self._started != started:
                    break
            else:
                return
