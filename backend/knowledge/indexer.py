"""Bringing the index to a folder's true state, incrementally and resumably.

A sweep compares the folder with the ``documents`` table: size and mtime
first (no read at all for unchanged files), then the content hash to confirm
(a touched-but-identical file only gets its mtime updated: nothing is
re-embedded); deleted files leave the index. Every document is written in one
transaction (its chunks, FTS rows and vectors together), so a crash or
``kill -9`` leaves each document either fully old or fully new, and the next
sweep simply picks up what is still missing: that is the resume.

Parsing and chunking run in a producer thread while the main loop embeds
(torch releases the GIL), through a bounded queue so memory stays bounded on
huge corpora; chunks of several small documents are embedded in one batch.
A bad file is recorded as failed with its reason and the sweep goes on.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backend.knowledge.records import Chunk, IndexProgress, IndexSummary
from backend.knowledge.scanner import FileEntry, ScanProblem, ScanRules, scan_folder

BATCH_CHUNKS = 64
YIELD_EVERY = 32
"""Chunks embedded between two checks for a reply (the embedder's own batch:
about a second of both cores on MiniLM, so a reply waits at most that)."""
QUEUE_DOCS = 16


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class _Parsed:
    entry: FileEntry
    folder_id: int
    sha256: str = ""
    chunks: list[Chunk] = field(default_factory=list)
    error: str | None = None
    skipped: bool = False  # deliberately not indexed (too large), not a failure


Progress = Callable[[IndexProgress], None]


class _StandingAside:
    """Waits for replies (``yield_to``) from the parsing and the embedding
    threads at once, and adds up the time either stood aside (the union of
    their waits, so overlapping waits count once)."""

    def __init__(self, yield_to: Callable[[threading.Event], float] | None) -> None:
        self._yield_to = yield_to
        self._lock = threading.Lock()
        self._waiting = 0
        self._since = 0.0
        self.total_s = 0.0

    def __call__(self, cancel: threading.Event) -> None:
        if self._yield_to is None:
            return
        with self._lock:
            if self._waiting == 0:
                self._since = time.perf_counter()
            self._waiting += 1
        try:
            self._yield_to(cancel)
        finally:
            with self._lock:
                self._waiting -= 1
                if self._waiting == 0:
                    self.total_s += time.perf_counter() - self._since


class Indexer:
    """Sweeps folders into an ``IndexStore`` with a parser, chunker and embedder."""

    def __init__(
        self,
        store: Any,
        embedder: Any,
        chunker: Callable[[], Any],
        parse: Callable[[Path, int], Any],
        max_file_bytes: int = 20_000_000,
        yield_to: Callable[[threading.Event], float] | None = None,
    ) -> None:
        """``chunker`` is a factory, called only when a file must be read:
        a sweep that finds nothing changed loads no tokenizer or model.
        ``yield_to(cancel)`` blocks while a reply is being generated
        (``ReplyGate.wait_idle``) and returns how long it waited: the sweep
        calls it before parsing each document and before each embedding
        batch, never inside a transaction, so a reply has the cores."""
        self.store = store
        self.embedder = embedder
        self._chunker = chunker
        self.parse = parse
        self.max_file_bytes = max_file_bytes
        self.yield_to = yield_to

    # -- planning ---------------------------------------------------------
    def plan(
        self, folder_id: int, root: Path, rules: ScanRules | None = None
    ) -> tuple[list[FileEntry], list[str], list[ScanProblem], int]:
        """What to (re)index, what to drop, what could not be scanned, and
        how many files are unchanged."""
        known = {d.path: d for d in self.store.documents(folder_id=folder_id)}
        problems: list[ScanProblem] = []
        todo: list[FileEntry] = []
        unchanged = 0
        seen: set[str] = set()
        for entry in scan_folder(root, rules, problems):
            key = str(entry.path)
            seen.add(key)
            doc = known.get(key)
            if (
                doc is not None
                and doc.size == entry.size
                and doc.mtime_ns == entry.mtime_ns
                and doc.status in ("indexed", "failed", "skipped")
            ):
                unchanged += 1
                continue
            if doc is not None and doc.status == "indexed" and doc.size == entry.size:
                try:
                    same = sha256_of(entry.path) == doc.sha256
                except OSError:
                    same = False
                if same:
                    self.store.touch_document(key, entry.mtime_ns)
                    unchanged += 1
                    continue
            todo.append(entry)
        removed = [p for p in known if p not in seen]
        return todo, removed, problems, unchanged

    # -- running ----------------------------------------------------------
    def _produce(
        self,
        work: Iterable[tuple[int, FileEntry]],
        out: queue.Queue[Any],
        stop: threading.Event,
        aside: _StandingAside,
    ) -> None:
        try:
            for folder_id, entry in work:
                aside(stop)  # parsing takes a core too
                if stop.is_set():
                    break
                item = _Parsed(entry, folder_id)
                if entry.size > self.max_file_bytes:
                    item.error = f"larger than the {self.max_file_bytes / 1e6:g} MB limit"
                    item.skipped = True
                else:
                    try:
                        item.sha256 = sha256_of(entry.path)
                        doc = self.parse(entry.path, self.max_file_bytes)
                        item.chunks = list(self._chunker().chunk(doc))
                    except Exception as err:  # a bad file never stops the sweep
                        item.error = str(err) or type(err).__name__
                out.put(item)
        finally:
            out.put(None)

    def run(
        self,
        folders: list[tuple[int, Path, ScanRules | None]],
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        paused: threading.Event | None = None,
    ) -> IndexSummary:
        """Sweep ``folders``; ``cancel`` stops after the current document
        (everything written so far stays), ``paused`` holds the sweep between
        documents until it is cleared."""
        start = time.perf_counter()
        cancel = cancel or threading.Event()
        summary = IndexSummary()
        work: list[tuple[int, FileEntry]] = []
        for folder_id, root, rules in folders:
            todo, removed, problems, unchanged = self.plan(folder_id, root, rules)
            summary.unchanged += unchanged
            for path in removed:
                self.store.delete_document(path)
            summary.removed += len(removed)
            for p in problems:
                summary.failed.append((str(p.path), p.reason))
            work += [(folder_id, e) for e in todo]

        def report(current: str | None) -> None:
            if progress is not None:
                progress(
                    IndexProgress(
                        total=len(work),
                        done=summary.indexed + len(summary.failed),
                        failed=len(summary.failed),
                        chunks=summary.chunks,
                        current=current,
                        elapsed_s=time.perf_counter() - start,
                    )
                )

        report(None)
        parsed: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_DOCS)
        aside = _StandingAside(self.yield_to)
        producer = threading.Thread(
            target=self._produce,
            args=(work, parsed, cancel, aside),
            name="index-parse",
            daemon=True,
        )
        producer.start()
        pending: list[_Parsed] = []
        try:
            while True:
                item = parsed.get()
                while paused is not None and paused.is_set() and not cancel.is_set():
                    time.sleep(0.1)
                if item is None or cancel.is_set():
                    break
                if item.error is not None:
                    e = item.entry
                    mark = self.store.mark_skipped if item.skipped else self.store.mark_failed
                    mark(item.folder_id, str(e.path), e.size, e.mtime_ns, item.error)
                    summary.failed.append((str(e.path), item.error))
                    report(str(e.path))
                    continue
                pending.append(item)
                if sum(len(p.chunks) for p in pending) >= BATCH_CHUNKS:
                    self._write(pending, summary, report, cancel, aside)
                    pending = []
            if not cancel.is_set():
                self._write(pending, summary, report, cancel, aside)
        finally:
            cancel_requested = cancel.is_set()
            cancel.set()  # stop the producer if we leave early
            while producer.is_alive():
                try:
                    parsed.get_nowait()
                except queue.Empty:
                    producer.join(timeout=0.05)
        summary.cancelled = cancel_requested
        summary.seconds = time.perf_counter() - start
        summary.yielded_s = aside.total_s
        return summary

    def _write(
        self,
        items: list[_Parsed],
        summary: IndexSummary,
        report: Callable[[str | None], None],
        cancel: threading.Event,
        aside: _StandingAside,
    ) -> None:
        if not items:
            return
        texts = [self.embed_text(c) for item in items for c in item.chunks]
        vectors = self._embed(texts, cancel, aside)
        if vectors is None:
            return  # cancelled while waiting: nothing of this batch is written
        offset = 0
        for item in items:
            if cancel.is_set():
                return  # the rest stays pending for the next sweep
            n = len(item.chunks)
            e = item.entry
            self.store.replace_document(
                item.folder_id,
                str(e.path),
                e.size,
                e.mtime_ns,
                item.sha256,
                item.chunks,
                vectors[offset : offset + n],
            )
            offset += n
            summary.indexed += 1
            summary.chunks += n
            report(str(e.path))

    def _embed(
        self, texts: list[str], cancel: threading.Event, aside: _StandingAside
    ) -> np.ndarray | None:
        """``texts`` embedded in steps of ``YIELD_EVERY`` chunks, standing
        aside for replies between steps (None if cancelled meanwhile)."""
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        parts = []
        for at in range(0, len(texts), YIELD_EVERY):
            aside(cancel)
            if cancel.is_set():
                return None
            parts.append(self.embedder.embed(texts[at : at + YIELD_EVERY]))
        return np.vstack(parts)

    @staticmethod
    def embed_text(chunk: Chunk) -> str:
        """What the embedder sees: the heading path gives a chunk its context."""
        heading = " > ".join(chunk.heading_path)
        return f"{heading}\n{chunk.text}" if heading else chunk.text
