"""Indexing as the app runs it: the state a sweep leaves for the Documents
screen, the worker bodies that run a sweep and start the folder watcher, and
the text that describes progress.

The backend calls ``IndexingState.report`` from the indexing thread; it only
stores the progress and posts a message to the open screen (``post_message``
is thread-safe), and the screen redraws from the state in its own thread.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from backend import AssistantError
from backend.api import IndexProgress, IndexSummary

if TYPE_CHECKING:
    from assistant.app import AssistantApp
    from assistant.screens.documents import DocumentsScreen


class IndexingChanged(Message):
    """Progress was made, or a sweep started or ended (posted from any thread).
    ``swept`` marks a background sweep by the folder watcher, which has no
    running phase the screen could see end."""

    def __init__(self, swept: bool = False) -> None:
        super().__init__()
        self.swept = swept


@dataclass
class IndexingState:
    """What the app knows about the current (or last) sweep."""

    running: bool = False
    progress: IndexProgress | None = None
    last: IndexSummary | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    paused: threading.Event = field(default_factory=threading.Event)
    screen: DocumentsScreen | None = None  # the open documents screen, if any
    notices_seen: set[str] = field(default_factory=set)

    def begin(self) -> None:
        self.running = True
        self.progress = None
        self.cancel.clear()
        self.paused.clear()
        self.changed()

    def stop(self) -> None:
        """Ask a running sweep to stop after the current document."""
        self.cancel.set()
        self.paused.clear()

    def report(self, progress: IndexProgress) -> None:
        """The backend's progress callback: runs in the indexing thread, so it
        touches no widget."""
        self.progress = progress
        self.changed()

    def swept(self, summary: IndexSummary) -> None:
        """The folder watcher's callback (its own thread): a background sweep ended."""
        self.last = summary
        self.changed(swept=True)

    def changed(self, swept: bool = False) -> None:
        screen = self.screen
        if screen is not None:
            screen.post_message(IndexingChanged(swept))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def summary_text(summary: IndexSummary) -> str:
    text = (
        f"indexed {summary.indexed}, failed {len(summary.failed)}, "
        f"{summary.chunks} chunks, {summary.seconds:.1f} s"
    )
    if summary.removed:
        text += f", removed {summary.removed}"
    if summary.skipped:
        reasons = ", ".join(f"{r} {n}" for r, n in summary.skipped_by_reason().items())
        text += f", skipped {len(summary.skipped)} ({reasons})"
    if summary.duplicates:
        text += f", duplicates {len(summary.duplicates)}"
    return text


def progress_text(state: IndexingState) -> str:
    p = state.progress
    if not state.running:
        return f"Last sweep: {summary_text(state.last)}" if state.last else "Not indexing"
    if p is None:
        return "Starting (loading the embedding model)…"
    parts = [f"{p.done}/{p.total}", f"{p.chunks} chunks"]
    if p.failed:
        parts.append(f"{p.failed} failed")
    parts.append(f"ETA {_duration(p.eta_s)}")
    if state.paused.is_set():
        parts.append("PAUSED")
    if state.cancel.is_set():
        parts.append("cancelling…")
    if p.current:
        parts.append(Path(p.current).name)
    return " · ".join(parts)


async def run_indexing(app: AssistantApp, folder_ids: list[int] | None, quiet: bool) -> None:
    """One sweep; notifies a summary when done (``quiet``: only if anything changed)."""
    state = app.indexing
    summary: IndexSummary | None = None
    try:
        summary = await app.backend.documents.index(
            folder_ids, state.report, state.cancel, state.paused
        )
    except AssistantError as err:
        app.report(err)
    except asyncio.CancelledError:
        state.stop()  # the app is closing: let the thread stop too
        raise
    finally:
        if summary is not None:
            state.last = summary
        state.running = False
        state.changed()
    if summary is None:
        return
    if quiet and not (summary.indexed or summary.failed or summary.removed):
        return
    app.notify(
        summary_text(summary),
        title="Indexing cancelled" if summary.cancelled else "Indexing done",
        severity="warning" if summary.failed or summary.cancelled else "information",
        timeout=6,
    )


async def watch_folders(app: AssistantApp, *, initial_sweep: bool) -> None:
    """Keep the watched folders indexed while the app runs; on start also
    reconcile the index with the folders once, in the background."""
    state = app.indexing
    try:
        notices = await app.backend.documents.watch_folders(state.swept)
        folders = await app.backend.documents.folders() if initial_sweep else []
    except AssistantError as err:
        app.notify(str(err), title=err.title, severity="warning", timeout=8)
        return
    for notice in notices:
        if notice not in state.notices_seen:
            state.notices_seen.add(notice)
            app.notify(notice, title="Folder watching", severity="warning", timeout=8)
    if folders:
        app.start_indexing(quiet=True)


# the screen ---------------------------------------------------------------
