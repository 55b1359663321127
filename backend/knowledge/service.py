"""The knowledge base as one object the facade owns.

It wires the store, the (lazily loaded) embedder and chunker, the indexer
and the watcher together, and keeps the rules in one place: one sweep at a
time (a lock), vectors from one embedding model only (a different model
raises until the user asks for a re-embed), and the embedding model loaded
only when something needs it, so start-up stays instant.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backend.common.errors import NotFoundError
from backend.common.reply_gate import ReplyGate
from backend.knowledge import duplicate_rows
from backend.knowledge.embedder import Embedder, SentenceTransformerEmbedder
from backend.knowledge.errors import FolderError
from backend.knowledge.index_store import Document, Folder, IndexStore
from backend.knowledge.indexer import Indexer
from backend.knowledge.injection import backfill_flags
from backend.knowledge.records import DocumentHit, FolderStatus, IndexProgress, IndexSummary
from backend.knowledge.scanner import ScanRules
from backend.knowledge.search import Mode, search
from backend.knowledge.watcher import FolderWatcher
from backend.store.db import Database

DEFAULT_MAX_FILE_BYTES = 20_000_000


class KnowledgeBase:
    def __init__(
        self, db: Database, embedder: Embedder | None = None, gate: ReplyGate | None = None
    ) -> None:
        """``gate``: sweeps stand aside while a reply is generated (here or in
        another process on the same data folder)."""
        self.store = IndexStore(db)
        self.gate = gate
        self._embedder = embedder
        self._chunker: Any = None
        self._sweep = threading.Lock()
        self._load = threading.RLock()
        self.watcher: FolderWatcher | None = None

    # -- lazily loaded models ----------------------------------------------
    @property
    def embedder(self) -> Embedder:
        with self._load:
            if self._embedder is None:
                self._embedder = SentenceTransformerEmbedder()
            return self._embedder

    @property
    def chunker(self) -> Any:
        with self._load:
            if self._chunker is None:
                from backend.knowledge.chunking import Chunker

                embedder = self.embedder  # its own tokenizer when it has one
                self._chunker = Chunker(
                    embedder.chunk_tokenizer(), max_tokens=min(256, embedder.max_tokens)
                )
            return self._chunker

    # -- folders -------------------------------------------------------------
    def add_folder(
        self,
        path: str | Path,
        include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
        max_file_bytes: int | None = None,
    ) -> Folder:
        p = Path(path).expanduser()
        if not p.exists():
            raise FolderError(f"{p} does not exist")
        if not p.is_dir():
            raise FolderError(f"{p} is not a folder")
        return self.store.add_folder(p, include, exclude, max_file_bytes)

    def find_folder(self, path_or_id: str | int) -> Folder:
        for f in self.store.folders():
            if str(f.id) == str(path_or_id) or f.path == str(
                Path(str(path_or_id)).expanduser().resolve()
            ):
                return f
        raise NotFoundError(f"no watched folder {path_or_id}")

    def remove_folder(self, path_or_id: str | int) -> Folder:
        folder = self.find_folder(path_or_id)
        if self.watcher is not None:
            self.watcher.unwatch(folder.id)
        self.store.remove_folder(folder.id)
        return folder

    def folder_statuses(self) -> list[FolderStatus]:
        out = []
        for f in self.store.folders():
            docs = self.store.documents(folder_id=f.id)
            by: dict[str, int] = {}
            for d in docs:
                status = "duplicate" if d.duplicate_of is not None else d.status
                by[status] = by.get(status, 0) + 1
            out.append(
                FolderStatus(
                    folder=f,
                    indexed=by.get("indexed", 0),
                    pending=by.get("pending", 0),
                    failed=by.get("failed", 0),
                    skipped=by.get("skipped", 0),
                    chunks=sum(d.chunk_count for d in docs),
                    duplicates=by.get("duplicate", 0),
                )
            )
        return out

    def documents(self, folder_id: int | None = None, status: str | None = None) -> list[Document]:
        return self.store.documents(folder_id=folder_id, status=status)

    # -- indexing ------------------------------------------------------------
    def index(
        self,
        folder_ids: list[int] | None = None,
        progress: Callable[[IndexProgress], None] | None = None,
        cancel: threading.Event | None = None,
        paused: threading.Event | None = None,
    ) -> IndexSummary:
        """Sweep the folders (all by default) into the index; one sweep at a
        time. Resumes whatever an interrupted sweep left undone."""
        from backend.knowledge.parsers import parse_file

        with self._sweep:
            # chunks indexed before flagging existed (or under older
            # patterns) are scanned once; a no-op read after that
            backfill_flags(self.store.db)
            embedder = self.embedder
            recorded = self.store.vector_model()
            if (
                recorded is None
                or recorded[0] != embedder.name
                or not (self.store.has_vectors_table())
            ):
                # asking for ``dim`` loads the model; skip it when the index
                # already records this model, so an unchanged sweep (every
                # app start) loads nothing
                self.store.ensure_vectors(embedder.name, embedder.dim)
            chosen = [f for f in self.store.folders() if folder_ids is None or f.id in folder_ids]
            summary = IndexSummary()
            for f in chosen:  # each folder with its own size limit and globs
                limit = f.max_file_bytes or DEFAULT_MAX_FILE_BYTES
                yield_to = self.gate.wait_idle if self.gate is not None else None
                indexer = Indexer(
                    self.store, embedder, lambda: self.chunker, parse_file, limit, yield_to
                )
                rules = ScanRules(include=tuple(f.include_globs), exclude=tuple(f.exclude_globs))
                # an index from before duplicates were detected: collapse them once
                collapsed = duplicate_rows.backfill(self.store, f.id, Path(f.path))
                part = indexer.run([(f.id, Path(f.path), rules)], progress, cancel, paused)
                part.duplicates[:0] = collapsed
                summary.merge(part)
                if part.cancelled:
                    break
            return summary

    def reembed(self) -> None:
        """Switch the index to the current embedding model: drop the old
        vectors and mark every document for re-indexing."""
        self.store.reset_vectors(self.embedder.name, self.embedder.dim)

    # -- search --------------------------------------------------------------
    def search(
        self, query: str, k: int = 10, mode: Mode = "hybrid", folder_ids: list[int] | None = None
    ) -> list[DocumentHit]:
        embedder = None if mode == "keyword" else self.embedder
        return search(self.store, embedder, query, k, mode, folder_ids)

    # -- watching -------------------------------------------------------------
    def watch(self, on_swept: Callable[[IndexSummary], None] | None = None) -> list[str]:
        """Watch every folder; changed folders are swept after a short quiet
        period. Returns notices (e.g. folders that fell back to polling)."""

        def changed(folder_ids: set[int]) -> None:
            summary = self.index(sorted(folder_ids))
            if on_swept is not None:
                on_swept(summary)

        if self.watcher is None:
            self.watcher = FolderWatcher(changed)
        for f in self.store.folders():
            self.watcher.watch(f.id, Path(f.path))
        return list(self.watcher.notices)

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
