"""The state of one indexing sweep, and what it decides per document
besides embedding: skipped and failed files, duplicates and their
canonicals (``dedupe``), duplicates released when a canonical changes.

Kept apart from ``indexer`` (which parses, embeds and writes) so each file
is about one thing; the indexer owns the threads, this module the
bookkeeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.knowledge.dedupe import Candidate, DuplicateFinder, Signature, preference
from backend.knowledge.records import Chunk, IndexSummary
from backend.knowledge.scanner import FileEntry


@dataclass
class Parsed:
    """A file as the producer thread hands it to the writer."""

    entry: FileEntry
    folder_id: int
    sha256: str = ""
    chunks: list[Chunk] = field(default_factory=list)
    error: str | None = None
    skipped: bool = False  # deliberately not indexed (not a document), not a failure
    signature: Signature | None = None
    demote: Candidate | None = None
    """A canonical this document replaces (it is the better copy)."""


class StandingAside:
    """Waits for replies (``yield_to``) from the parsing and the embedding
    threads at once, and adds up the time either stood aside (the union of
    their waits, so overlapping waits count once)."""

    def __init__(self, yield_to: Callable[[threading.Event], float] | None) -> None:
        self._yield_to = yield_to
        self._lock = threading.Lock()
        self._waiting = 0
        self._since = 0.0
        self._stood = False
        self.total_s = 0.0

    def __call__(self, cancel: threading.Event) -> None:
        if self._yield_to is None:
            return
        with self._lock:
            if self._waiting == 0:
                self._since, self._stood = time.perf_counter(), False
            self._waiting += 1
        waited = 0.0
        try:
            waited = self._yield_to(cancel)
        finally:
            with self._lock:
                self._waiting -= 1
                self._stood = self._stood or waited > 0
                if self._waiting == 0 and self._stood:  # a check that found no reply is no wait
                    self.total_s += time.perf_counter() - self._since


@dataclass
class SweepState:
    """One ``Indexer.run``: per-folder duplicate finders and roots, what was
    processed, and duplicates released and not yet looked at again."""

    store: Any
    summary: IndexSummary
    finders: dict[int, DuplicateFinder] = field(default_factory=dict)
    roots: dict[int, Path] = field(default_factory=dict)
    processed: set[str] = field(default_factory=set)
    released: dict[str, int] = field(default_factory=dict)
    indexed_now: dict[str, int] = field(default_factory=dict)
    """Paths indexed in this sweep and their chunk counts."""
    total: int = 0

    def release(self, folder_id: int, paths: list[str]) -> None:
        for path in paths:
            self.released[path] = folder_id

    def take_released(self, queued: set[str]) -> list[tuple[int, FileEntry]]:
        """Released duplicates still on disk and not already queued."""
        out = []
        for path, folder_id in self.released.items():
            if path in queued:
                continue
            try:
                st = Path(path).stat()
            except OSError:
                continue  # gone too: the next sweep drops its row
            out.append((folder_id, FileEntry(Path(path), st.st_size, st.st_mtime_ns)))
        self.released.clear()
        return out

    def record_error(self, item: Parsed) -> None:
        """A file that is skipped (not a document) or failed."""
        e, path = item.entry, str(item.entry.path)
        released: list[str] = []
        assert item.error is not None
        if item.skipped:
            self.store.mark_skipped(item.folder_id, path, e.size, e.mtime_ns, item.error, released)
            self.summary.skipped.append((path, item.error))
        else:
            self.store.mark_failed(item.folder_id, path, e.size, e.mtime_ns, item.error, released)
            self.summary.failed.append((path, item.error))
        self.finders[item.folder_id].remove(path)
        self.release(item.folder_id, released)

    def place(self, item: Parsed, flush: Callable[[], None]) -> bool:
        """Whether ``item`` is a canonical to embed (True, maybe replacing
        a worse copy: ``item.demote``) or a duplicate (recorded here, False).
        ``flush`` writes the batch under way, for when the canonical is in
        it and has no document id yet."""
        path = str(item.entry.path)
        finder = self.finders[item.folder_id]
        found = finder.match(path, item.signature)
        if found is not None:
            canonical = found[0]
            if preference(path) < canonical.rank:
                item.demote = canonical  # this is the better copy
            else:
                if canonical.doc_id is None:
                    flush()
                if canonical.doc_id is None:
                    return False  # cancelled meanwhile; the next sweep decides
                self.mark_duplicate(item.folder_id, path, item, canonical)
                return False
        finder.add(Candidate(path, item.signature))
        return True

    def written(self, item: Parsed, doc_id: int, released: list[str]) -> None:
        """``item`` was indexed as ``doc_id``: count it, release what its
        old version had as duplicates, and demote the copy it replaces."""
        path = str(item.entry.path)
        mine = self.finders[item.folder_id].get(path)
        if mine is not None:
            mine.doc_id = doc_id
        self.release(item.folder_id, released)
        self.summary.indexed += 1
        self.summary.chunks += len(item.chunks)
        self.indexed_now[path] = len(item.chunks)
        if item.demote is not None and mine is not None:
            self.mark_duplicate(item.folder_id, item.demote.path, None, mine)

    def mark_duplicate(
        self, folder_id: int, path: str, item: Parsed | None, canonical: Candidate
    ) -> None:
        """Record ``path`` (the parsed ``item``, or a stored document being
        demoted when ``item`` is None) as a duplicate of ``canonical``."""
        assert canonical.doc_id is not None
        root = self.roots[folder_id]
        shown = Path(canonical.path)
        shown = shown.relative_to(root) if shown.is_relative_to(root) else shown
        released: list[str] = []
        if item is not None:
            e, sha, sig = item.entry, item.sha256, item.signature
            size, mtime = e.size, e.mtime_ns
        else:
            doc = self.store.document(path)
            old = self.finders[folder_id].get(path)
            size, mtime, sha = doc.size, doc.mtime_ns, doc.sha256 or ""
            sig = old.signature if old is not None else None
            chunks = self.indexed_now.pop(path, None)
            if chunks is not None:  # counted as indexed earlier in this sweep
                self.summary.indexed -= 1
                self.summary.chunks -= chunks
        self.store.mark_duplicate(
            folder_id,
            path,
            size,
            mtime,
            sha,
            sig,
            canonical.doc_id,
            f"duplicate of {shown}",
            released,
        )
        self.finders[folder_id].remove(path)
        self.summary.duplicates.append((path, canonical.path))
        self.release(folder_id, released)
