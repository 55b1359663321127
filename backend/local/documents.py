"""The documents service: watched folders and their index, document search,
the per-conversation documents switch, retrieval as chat does it (for
``assistant eval``), the sources of a reply and the source viewer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backend.common.errors import NotFoundError
from backend.common.events import SourceRef
from backend.knowledge.injection import flagged_documents
from backend.knowledge.parsers import parse_file
from backend.knowledge.records import (
    Document,
    DocumentHit,
    Folder,
    FolderStatus,
    IndexProgress,
    IndexSummary,
)
from backend.local.core import Core
from backend.local.models import ModelService
from backend.rag.pipeline import RagPipeline
from backend.rag.query import generate_with
from backend.rag.rerank_auto import downloaded_rerankers
from backend.rag.types import RerankerInUse, RetrievalResult, SourceView
from backend.runtimes.base import ChatMessage, GenerationParams
from backend.store.records import Conversation

SEARCH_MODES = ("hybrid", "dense", "keyword")


def passage_line(raw: str, passage: str) -> int | None:
    """1-based line of ``passage`` in a file's raw text, for ``$EDITOR +N``.

    The indexed text of HTML/PDF differs from the file, so the passage is
    looked for by its first words, then its first longest line; None when
    neither is found."""
    probes = [" ".join(passage.split()[:8])]
    lines = [ln.strip() for ln in passage.splitlines() if len(ln.strip()) > 12]
    probes += sorted(lines, key=len, reverse=True)[:3]
    for probe in probes:
        if probe:
            at = raw.find(probe)
            if at >= 0:
                return raw.count("\n", 0, at) + 1
    return None


class DocumentService:
    """Implements ``backend.api.contract.DocumentsAPI``; ``pipeline`` and
    ``enabled_for`` are for the chat, evaluation and completion services."""

    def __init__(self, core: Core, models: ModelService) -> None:
        self._core = core
        self._models = models
        self._pipeline: RagPipeline | None = None

    # for other services ------------------------------------------------------
    @property
    def pipeline(self) -> RagPipeline:
        """The RAG pipeline, built on first use from ``[rag]``."""
        if self._pipeline is None:
            settings = self._core.settings
            self._pipeline = RagPipeline(
                self._core.kb,
                settings.rag,
                llama=settings.llama,
                catalog=self._models.catalog,
                downloaded=lambda: downloaded_rerankers(self._core.models_dirs()),
            )
        return self._pipeline

    def enabled_for(self, conv: Conversation) -> bool:
        """Whether ``conv`` answers from the documents (sync)."""
        if conv.use_documents is not None:
            return conv.use_documents
        default = self._core.settings.rag.use_documents
        if default != "auto":
            return default == "always"
        row = self._core.stores.db.query_one(
            "SELECT 1 AS one FROM documents WHERE status = 'indexed' AND chunk_count > 0 LIMIT 1"
        )
        return row is not None

    # folders and the index ---------------------------------------------------
    async def add_folder(
        self,
        path: str,
        include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
        max_file_bytes: int | None = None,
    ) -> Folder:
        kb = self._core.kb
        return await self._core.run(kb.add_folder, path, include, exclude, max_file_bytes)

    async def remove_folder(self, path_or_id: str | int) -> Folder:
        return await self._core.run(self._core.kb.remove_folder, path_or_id)

    async def folders(self) -> list[FolderStatus]:
        return await self._core.run(self._core.kb.folder_statuses)

    async def list_documents(
        self, folder_id: int | None = None, status: str | None = None
    ) -> list[Document]:
        return await self._core.run(self._core.kb.documents, folder_id, status)

    async def index(
        self,
        folder_ids: list[int] | None = None,
        progress: Callable[[IndexProgress], None] | None = None,
        cancel: threading.Event | None = None,
        paused: threading.Event | None = None,
    ) -> IndexSummary:
        return await self._core.run(self._core.kb.index, folder_ids, progress, cancel, paused)

    async def reembed(self) -> None:
        await self._core.run(self._core.kb.reembed)

    async def search_documents(
        self, query: str, k: int = 10, mode: str = "hybrid", folder_ids: list[int] | None = None
    ) -> list[DocumentHit]:
        if mode not in SEARCH_MODES:
            raise ValueError(f"unknown search mode {mode!r} (hybrid, dense or keyword)")
        return await self._core.run(self._core.kb.search, query, k, mode, folder_ids)

    async def watch_folders(
        self, on_swept: Callable[[IndexSummary], None] | None = None
    ) -> list[str]:
        return await self._core.run(self._core.kb.watch, on_swept)

    # answers from documents --------------------------------------------------
    async def documents_enabled(self, conversation_id: int) -> bool:
        def run() -> bool:
            return self.enabled_for(self._core.stores.conversations.get(conversation_id))

        return await self._core.run(run)

    async def set_conversation_documents(
        self, conversation_id: int, use: bool | None, folder_ids: list[int] | None = None
    ) -> Conversation:
        def run() -> Conversation:
            if folder_ids is not None:
                known = {f.id for f in self._core.kb.store.folders()}
                missing = [i for i in folder_ids if i not in known]
                if missing:
                    raise NotFoundError(f"no folder with id {', '.join(map(str, missing))}")
            return self._core.stores.conversations.update(
                conversation_id, use_documents=use, folder_scope=folder_ids
            )

        return await self._core.run(run)

    async def retrieve(
        self,
        query: str,
        *,
        mode: str = "default",
        k: int | None = None,
        folder_ids: list[int] | None = None,
        history: list[tuple[str, str]] | None = None,
        model: str | None = None,
    ) -> RetrievalResult:
        if not query.strip():
            raise ValueError("cannot search for an empty query")

        def run() -> RetrievalResult:
            turns = [ChatMessage(r, t) for r, t in (history or [])]  # type: ignore[arg-type]
            if mode not in ("default", "rewrite"):
                return self.pipeline.retrieve(query, mode=mode, k=k, folder_ids=folder_ids)
            runtime, info = self._models.resolve(model)
            generate = generate_with(
                runtime, info, GenerationParams(max_tokens=64, temperature=0.0, seed=0)
            )
            with self._core.generating():
                return self.pipeline.retrieve(
                    query, mode=mode, k=k, folder_ids=folder_ids, history=turns, generate=generate
                )

        return await self._core.run(run)

    async def reranker_in_use(self) -> RerankerInUse:
        return await self._core.run(lambda: self.pipeline.reranker_in_use())

    async def message_sources(self, message_id: int) -> list[SourceRef]:
        return await self._core.run(self._core.stores.sources.for_message, message_id)

    async def source_view(self, message_id: int, n: int) -> SourceView:
        def run() -> SourceView:
            src = self._core.stores.sources.get(message_id, n)
            if src is None:
                raise NotFoundError(f"reply {message_id} has no source S{n}")
            path = Path(src.path)

            def view(text: str, start: int, end: int, **more: Any) -> SourceView:
                return SourceView(
                    src.path, text, start, end, heading=src.heading, page=src.page, **more
                )

            try:
                doc = parse_file(path)
                raw = path.read_text(encoding="utf-8", errors="replace")
            except Exception:  # gone, unreadable or no longer parseable
                return view(src.text, 0, len(src.text), exists=False)
            start, end = src.start, src.end
            if doc.text[start:end] != src.text:  # the file changed since
                at = doc.text.find(src.text)
                start, end = (at, at + len(src.text)) if at >= 0 else (0, 0)
            if end <= start:
                return view(src.text, 0, len(src.text), line=passage_line(raw, src.text))
            return view(doc.text, start, end, line=passage_line(raw, src.text))

        return await self._core.run(run)

    async def flagged_documents(self) -> list[tuple[str, int, list[str]]]:
        return await self._core.run(flagged_documents, self._core.stores.db)
