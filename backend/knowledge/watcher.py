"""Watching folders for changes while the app (or ``assistant index
--watch``) runs.

watchdog reports raw events (create, modify, delete, move, whole folders
moved in or out); we do not act on each one. Events are coalesced per
watched folder and, after ``debounce_s`` of quiet, the folder is swept: the
sweep is stat-based and cheap, and it is what decides what changed, so an
editor's save dance (write temp file, rename, delete) costs one re-index of
one file. When inotify runs out of watches (ENOSPC) the folder falls back to
polling, and ``notices`` says so.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver


class _Handler(FileSystemEventHandler):
    def __init__(self, folder_id: int, changed: Callable[[int, str], None]) -> None:
        self.folder_id = folder_id
        self.changed = changed

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return  # reads are not changes
        path = event.src_path
        self.changed(self.folder_id, path if isinstance(path, str) else path.decode())


class FolderWatcher:
    """Calls ``on_change(folder_ids)`` (from a timer thread) once events in
    those folders have been quiet for ``debounce_s``."""

    def __init__(
        self,
        on_change: Callable[[set[int]], None],
        debounce_s: float = 0.4,
        polling_interval_s: float = 1.0,
    ) -> None:
        self.on_change = on_change
        self.debounce_s = debounce_s
        self.polling_interval_s = polling_interval_s
        self.notices: list[str] = []
        self._observers: dict[int, Any] = {}
        self._dirty: set[int] = set()
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def _changed(self, folder_id: int, path: str) -> None:
        if "/." in path:  # hidden files and folders (.git, editor swap files)
            return
        with self._lock:
            self._dirty.add(folder_id)
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.debounce_s, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            self._timer = None
        if dirty:
            self.on_change(dirty)

    def watch(self, folder_id: int, path: Path) -> str:
        """Start watching; returns ``"native"`` or ``"polling"``."""
        self.unwatch(folder_id)
        handler = _Handler(folder_id, self._changed)
        observer: Any = Observer()
        mode = "native"
        try:
            observer.schedule(handler, str(path), recursive=True)
            observer.start()
        except OSError as err:
            if err.errno not in (errno.ENOSPC, errno.EMFILE):
                raise
            observer = PollingObserver(timeout=self.polling_interval_s)
            observer.schedule(handler, str(path), recursive=True)
            observer.start()
            mode = "polling"
            self.notices.append(
                f"{path}: the system ran out of file watches (inotify); "
                "watching this folder by polling instead"
            )
        self._observers[folder_id] = observer
        return mode

    def unwatch(self, folder_id: int) -> None:
        observer = self._observers.pop(folder_id, None)
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)

    def stop(self) -> None:
        for folder_id in list(self._observers):
            self.unwatch(folder_id)
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
