"""Contract: the knowledge base: folders, documents, indexing and search."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from backend.common.events import SourceRef
from backend.knowledge.records import (
    Document,
    DocumentHit,
    Folder,
    FolderStatus,
    IndexProgress,
    IndexSummary,
)
from backend.rag.types import RerankerInUse, RetrievalResult, SourceView
from backend.store.records import (
    Conversation,
)


class DocumentsAPI(Protocol):
    """Watched folders, their index, search, and answers from them."""

    async def add_folder(
        self,
        path: str,
        include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
        max_file_bytes: int | None = None,
    ) -> Folder:
        """Watch a folder (indexing happens in ``index``/``watch_folders``).

        Raises:
            FolderError: not a folder, unreadable, or already watched.
        """
        ...

    async def remove_folder(self, path_or_id: str | int) -> Folder:
        """Stop watching a folder and drop everything indexed from it."""
        ...

    async def folders(self) -> list[FolderStatus]: ...

    async def list_documents(
        self, folder_id: int | None = None, status: str | None = None
    ) -> list[Document]: ...

    async def index(
        self,
        folder_ids: list[int] | None = None,
        progress: Callable[[IndexProgress], None] | None = None,
        cancel: threading.Event | None = None,
        paused: threading.Event | None = None,
    ) -> IndexSummary:
        """Bring the index up to date (resuming an interrupted sweep).
        ``progress`` is called after every document (locally from the
        indexing thread, remotely in the event loop)."""
        ...

    async def reembed(self) -> None:
        """Switch the index to the current embedding model: the old vectors
        are dropped and every document is embedded again by the next sweep."""
        ...

    async def search_documents(
        self, query: str, k: int = 10, mode: str = "hybrid", folder_ids: list[int] | None = None
    ) -> list[DocumentHit]:
        """Raises: ValueError (unknown mode: hybrid, dense or keyword)."""
        ...

    async def watch_folders(
        self, on_swept: Callable[[IndexSummary], None] | None = None
    ) -> list[str]:
        """Keep the index current while the backend runs; returns notices
        (e.g. polling instead of inotify). ``on_swept`` is local only."""
        ...

    async def documents_enabled(self, conversation_id: int) -> bool:
        """Whether this conversation answers from the documents (its own
        choice, else ``[rag] use_documents``; ``auto`` = any indexed)."""
        ...

    async def set_conversation_documents(
        self, conversation_id: int, use: bool | None, folder_ids: list[int] | None = None
    ) -> Conversation:
        """Answer from documents (True), plain chat (False) or follow the
        config (None); ``folder_ids`` limits the folders searched (None = all).

        Raises:
            NotFoundError: a folder id is unknown.
        """
        ...

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
        ``history`` is earlier (role, text) turns for condensing follow-ups;
        condense and rewrite run the default (or ``model``) chat model."""
        ...

    async def reranker_in_use(self) -> RerankerInUse:
        """Which reranker answers (and ``retrieve``'s default and
        hybrid+rerank modes) use, and why: ``[rag] reranker``, where ``auto``
        picks ``cross_encoder_dir`` or a cross-encoder the model library
        pulled. Nothing is loaded.

        Raises:
            ConfigError: ``cross-encoder`` without ``cross_encoder_dir``.
        """
        ...

    async def message_sources(self, message_id: int) -> list[SourceRef]:
        """The sources a reply was given, by S-number, ``cited`` marked."""
        ...

    async def source_view(self, message_id: int, n: int) -> SourceView:
        """Source ``[S{n}]`` of a reply in the context of its document."""
        ...

    async def flagged_documents(self) -> list[tuple[str, int, list[str]]]:
        """Documents with text that tries to instruct the assistant:
        (path, flagged chunks, reasons)."""
        ...
