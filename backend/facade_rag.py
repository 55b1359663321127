"""The grounded-answers half of the ``Backend`` facade: the per-conversation
documents switch, retrieval as chat does it (for ``assistant eval``), the
sources of a reply and the source viewer. ``Backend`` inherits these."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from backend.common.config import Settings
from backend.common.errors import NotFoundError
from backend.common.events import SourceRef
from backend.knowledge.injection import flagged_documents
from backend.knowledge.parsers import parse_file
from backend.knowledge.service import KnowledgeBase
from backend.modelfiles.catalog import ModelInfo
from backend.rag.pipeline import RagPipeline
from backend.rag.query import generate_with
from backend.rag.types import RetrievalResult, SourceView
from backend.runtimes.base import ChatMessage, GenerationParams, Runtime
from backend.store.conversations import ConversationStore
from backend.store.records import Conversation
from backend.store.sources import SourceStore

T = TypeVar("T")


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


class RagMethods:
    kb: KnowledgeBase
    conversations: ConversationStore
    source_store: SourceStore
    _pipeline: RagPipeline | None
    _generation_lock: threading.Lock

    @property
    def settings(self) -> Settings:
        raise NotImplementedError

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        raise NotImplementedError

    def _resolve_model(self, name: str | None) -> tuple[Runtime, ModelInfo]:
        raise NotImplementedError

    def _list_models_sync(self) -> list[ModelInfo]:
        raise NotImplementedError

    def _catalog(self) -> list[ModelInfo]:
        return self._list_models_sync()

    # -- sync helpers (run in a worker thread) ---------------------------
    @property
    def pipeline(self) -> RagPipeline:
        if self._pipeline is None:
            self._pipeline = RagPipeline(
                self.kb, self.settings.rag, llama=self.settings.llama, catalog=self._catalog
            )
        return self._pipeline

    def _documents_enabled_sync(self, conv: Conversation) -> bool:
        if conv.use_documents is not None:
            return conv.use_documents
        default = self.settings.rag.use_documents
        if default != "auto":
            return default == "always"
        row = self.kb.store.db.query_one(
            "SELECT 1 AS one FROM documents WHERE status = 'indexed' AND chunk_count > 0 LIMIT 1"
        )
        return row is not None

    # -- public API -------------------------------------------------------
    async def documents_enabled(self, conversation_id: int) -> bool:
        """Whether this conversation answers from the documents (its own
        choice, else ``[rag] use_documents``; ``auto`` = any indexed)."""

        def run() -> bool:
            return self._documents_enabled_sync(self.conversations.get(conversation_id))

        return await self._run(run)

    async def set_conversation_documents(
        self, conversation_id: int, use: bool | None, folder_ids: list[int] | None = None
    ) -> Conversation:
        """Answer from documents (True), plain chat (False) or follow the
        config (None); ``folder_ids`` limits the folders searched (None =
        all)."""

        def run() -> Conversation:
            if folder_ids is not None:
                known = {f.id for f in self.kb.store.folders()}
                missing = [i for i in folder_ids if i not in known]
                if missing:
                    raise NotFoundError(f"no folder with id {', '.join(map(str, missing))}")
            return self.conversations.update(
                conversation_id, use_documents=use, folder_scope=folder_ids
            )

        return await self._run(run)

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
        """Passages for ``query`` as chat finds them (``mode="default"``) or
        by one stage (keyword, dense, hybrid, hybrid+rerank, rewrite).
        ``history`` is earlier (role, text) turns for condensing follow-ups.
        Condense and rewrite run the default (or ``model``) chat model."""
        if not query.strip():
            raise ValueError("cannot search for an empty query")

        def run() -> RetrievalResult:
            turns = [ChatMessage(r, t) for r, t in (history or [])]  # type: ignore[arg-type]
            needs_model = mode in ("default", "rewrite")
            if not needs_model:
                return self.pipeline.retrieve(query, mode=mode, k=k, folder_ids=folder_ids)
            runtime, info = self._resolve_model(model)
            generate = generate_with(
                runtime, info, GenerationParams(max_tokens=64, temperature=0.0, seed=0)
            )
            with self._generation_lock:
                return self.pipeline.retrieve(
                    query,
                    mode=mode,
                    k=k,
                    folder_ids=folder_ids,
                    history=turns,
                    generate=generate,
                )

        return await self._run(run)

    async def message_sources(self, message_id: int) -> list[SourceRef]:
        """The sources a reply was given, by S-number, ``cited`` marked."""
        return await self._run(self.source_store.for_message, message_id)

    async def source_view(self, message_id: int, n: int) -> SourceView:
        """Source ``[S{n}]`` of a reply in the context of its document."""

        def run() -> SourceView:
            src = self.source_store.get(message_id, n)
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

        return await self._run(run)

    async def flagged_documents(self) -> list[tuple[str, int, list[str]]]:
        """Documents with text that tries to instruct the assistant:
        (path, flagged chunks, reasons)."""
        return await self._run(flagged_documents, self.kb.store.db)
