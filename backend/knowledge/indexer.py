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
A bad file is recorded as failed with its reason and the sweep goes on;
a file that is not a document (``skip_rules``) is recorded as skipped with
its reason, without being parsed.

Duplicates (``dedupe``) are decided as each parsed document arrives: work
is ordered best canonical format first (pages before their sources), so a
page is embedded and its copies only recorded as duplicates. When the
canonical changes, fails or goes away, the store releases its duplicates
(``pending``) and the sweep runs again over them, so they are promoted or
re-attached in the same sweep.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from backend.common.layer_pauses import standing_aside
from backend.knowledge.dedupe import DuplicateFinder, preference, signature
from backend.knowledge.records import Chunk, IndexProgress, IndexSummary
from backend.knowledge.scanner import FileEntry, ScanProblem, ScanRules, scan_folder
from backend.knowledge.skip_rules import content_skip
from backend.knowledge.sweep import Parsed, StandingAside, SweepState

BATCH_CHUNKS = 64
"""Chunks gathered (whole documents) before one embedding call; a reply
waits for at most one layer of it (``layer_pauses``), not the call."""
QUEUE_DOCS = 16
RELEASE_ROUNDS = 3
"""Sweeps over released duplicates after the main one (each round can
only release the duplicates of what it demoted, so this is plenty)."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


Progress = Callable[[IndexProgress], None]


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
    ) -> tuple[list[FileEntry], list[str], list[ScanProblem], list[str], list[FileEntry]]:
        """What to (re)index, what to drop, what could not be scanned, the
        unchanged paths, and what to record as skipped without reading."""
        known = {d.path: d for d in self.store.documents(folder_id=folder_id)}
        problems: list[ScanProblem] = []
        todo: list[FileEntry] = []
        skips: list[FileEntry] = []
        unchanged: list[str] = []
        seen: set[str] = set()
        for entry in scan_folder(root, rules, problems):
            key = str(entry.path)
            seen.add(key)
            doc = known.get(key)
            if entry.skip is not None:
                if doc is not None and doc.status == "skipped" and doc.error == entry.skip:
                    unchanged.append(key)
                else:
                    skips.append(entry)
                continue
            if (
                doc is not None
                and doc.size == entry.size
                and doc.mtime_ns == entry.mtime_ns
                and doc.status in ("indexed", "failed", "skipped")
            ):
                unchanged.append(key)
                continue
            if doc is not None and doc.status == "indexed" and doc.size == entry.size:
                try:
                    same = sha256_of(entry.path) == doc.sha256
                except OSError:
                    same = False
                if same:
                    self.store.touch_document(key, entry.mtime_ns)
                    unchanged.append(key)
                    continue
            todo.append(entry)
        removed = [p for p in known if p not in seen]
        return todo, removed, problems, unchanged, skips

    # -- running ----------------------------------------------------------
    def _produce(
        self,
        work: Iterable[tuple[int, FileEntry]],
        out: queue.Queue[Any],
        stop: threading.Event,
        aside: StandingAside,
    ) -> None:
        try:
            for folder_id, entry in work:
                aside(stop)  # parsing takes a core too
                if stop.is_set():
                    break
                out.put(self._parse(folder_id, entry))
        finally:
            out.put(None)

    def _parse(self, folder_id: int, entry: FileEntry) -> Parsed:
        item = Parsed(entry, folder_id)
        if entry.size > self.max_file_bytes:
            item.error = f"larger than the {self.max_file_bytes / 1e6:g} MB limit"
            item.skipped = True
            return item
        try:
            reason = content_skip(entry.path, self.max_file_bytes)
            if reason is not None:
                item.error, item.skipped = reason, True
                return item
            item.sha256 = sha256_of(entry.path)
            doc = self.parse(entry.path, self.max_file_bytes)
            item.chunks = list(self._chunker().chunk(doc))
            item.signature = signature(doc.text)
        except Exception as err:  # a bad file never stops the sweep
            item.error = str(err) or type(err).__name__
        return item

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
        sweep = SweepState(self.store, summary)
        work: list[tuple[int, FileEntry]] = []
        unchanged: set[str] = set()
        for folder_id, root, rules in folders:
            todo, removed, problems, same, skips = self.plan(folder_id, root, rules)
            unchanged.update(same)
            sweep.roots[folder_id] = root
            released: list[str] = []
            for path in removed:
                self.store.delete_document(path, released)
            summary.removed += len(removed)
            for p in problems:
                summary.failed.append((str(p.path), p.reason))
            for e in skips:
                assert e.skip is not None
                self.store.mark_skipped(
                    folder_id, str(e.path), e.size, e.mtime_ns, e.skip, released
                )
                summary.skipped.append((str(e.path), e.skip))
            redo = {str(e.path) for e in todo}
            sweep.finders[folder_id] = DuplicateFinder(
                c for c in self.store.candidates(folder_id) if c.path not in redo
            )
            sweep.release(folder_id, released)
            work += [(folder_id, e) for e in todo]

        def report(current: str | None) -> None:
            if current is not None:
                sweep.processed.add(current)
                sweep.released.pop(current, None)
            if progress is not None:
                progress(
                    IndexProgress(
                        total=sweep.total,
                        done=len(sweep.processed),
                        failed=len(summary.failed),
                        chunks=summary.chunks,
                        current=current,
                        elapsed_s=time.perf_counter() - start,
                    )
                )

        aside = StandingAside(self.yield_to)
        for _ in range(1 + RELEASE_ROUNDS):
            work += sweep.take_released({str(e.path) for _, e in work})
            if not work or cancel.is_set():
                break
            work.sort(key=lambda fe: (preference(fe[1].path), str(fe[1].path)))
            sweep.total += len(work)
            report(None)
            self._pipeline(work, sweep, report, cancel, paused, aside)
            work = []
        summary.unchanged = len(unchanged - sweep.processed)
        summary.cancelled = cancel.is_set()
        summary.seconds = time.perf_counter() - start
        summary.yielded_s = aside.total_s
        return summary

    def _pipeline(
        self,
        work: list[tuple[int, FileEntry]],
        sweep: SweepState,
        report: Callable[[str | None], None],
        cancel: threading.Event,
        paused: threading.Event | None,
        aside: StandingAside,
    ) -> None:
        """Parse ``work`` in a producer thread and embed and write it here."""
        stop = threading.Event()
        parsed: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_DOCS)
        producer = threading.Thread(
            target=self._produce, args=(work, parsed, stop, aside), name="index-parse", daemon=True
        )
        producer.start()
        pending: list[Parsed] = []
        try:
            while True:
                item = parsed.get()
                while paused is not None and paused.is_set() and not cancel.is_set():
                    time.sleep(0.1)
                if item is None or cancel.is_set():
                    break
                if item.error is not None:
                    sweep.record_error(item)
                    report(str(item.entry.path))
                    continue

                def flush() -> None:
                    self._write(pending, sweep, report, cancel, aside)
                    pending.clear()

                if not sweep.place(item, flush):
                    report(str(item.entry.path))
                    continue
                pending.append(item)
                if sum(len(p.chunks) for p in pending) >= BATCH_CHUNKS:
                    flush()
            if not cancel.is_set():
                self._write(pending, sweep, report, cancel, aside)
        finally:
            stop.set()  # stop the producer if we leave early
            while producer.is_alive():
                try:
                    parsed.get_nowait()
                except queue.Empty:
                    producer.join(timeout=0.05)

    def _write(
        self,
        items: list[Parsed],
        sweep: SweepState,
        report: Callable[[str | None], None],
        cancel: threading.Event,
        aside: StandingAside,
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
            e, path = item.entry, str(item.entry.path)
            released: list[str] = []
            doc_id = self.store.replace_document(
                item.folder_id,
                path,
                e.size,
                e.mtime_ns,
                item.sha256,
                item.chunks,
                vectors[offset : offset + n],
                item.signature,
                released,
            )
            offset += n
            sweep.written(item, doc_id, released)
            report(path)

    def _embed(
        self, texts: list[str], cancel: threading.Event, aside: StandingAside
    ) -> np.ndarray | None:
        """``texts`` embedded in one call, standing aside for replies before
        it and, for a torch embedder, between its layers within it
        (``layer_pauses``); None if cancelled meanwhile.

        One call, not slices: the embedder sorts a call's texts by length
        before batching, so slicing 64+ chunks into calls of 32 padded more
        and cost 30 % of throughput (2,956 chunks: 52 chunks/s in 24 calls,
        36.6 in 106; ``benchmarks/index_throughput.py``)."""
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        aside(cancel)
        if cancel.is_set():
            return None
        with standing_aside(lambda: aside(cancel)):
            vectors = self.embedder.embed(texts)
        return None if cancel.is_set() else vectors

    @staticmethod
    def embed_text(chunk: Chunk) -> str:
        """What the embedder sees: the heading path gives a chunk its context."""
        heading = " > ".join(chunk.heading_path)
        return f"{heading}\n{chunk.text}" if heading else chunk.text
