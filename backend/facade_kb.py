"""The knowledge-base half of the ``Backend`` facade: folders, indexing,
document search. Kept apart so each file stays about one thing; ``Backend``
inherits these methods."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from backend.knowledge.index_store import Document, Folder
from backend.knowledge.records import DocumentHit, FolderStatus, IndexProgress, IndexSummary
from backend.knowledge.service import KnowledgeBase

T = TypeVar("T")


class KnowledgeMethods:
    kb: KnowledgeBase

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        raise NotImplementedError

    # knowledge base ----------------------------------------------------
    async def add_folder(
        self,
        path: str,
        include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
        max_file_bytes: int | None = None,
    ) -> Folder:
        """Watch a folder (indexing happens in ``index``/``watch``)."""
        return await self._run(self.kb.add_folder, path, include, exclude, max_file_bytes)

    async def remove_folder(self, path_or_id: str | int) -> Folder:
        """Stop watching a folder and drop everything indexed from it."""
        return await self._run(self.kb.remove_folder, path_or_id)

    async def folders(self) -> list[FolderStatus]:
        return await self._run(self.kb.folder_statuses)

    async def documents(
        self, folder_id: int | None = None, status: str | None = None
    ) -> list[Document]:
        return await self._run(self.kb.documents, folder_id, status)

    async def index(
        self,
        folder_ids: list[int] | None = None,
        progress: Callable[[IndexProgress], None] | None = None,
        cancel: threading.Event | None = None,
        paused: threading.Event | None = None,
    ) -> IndexSummary:
        """Bring the index up to date (resuming an interrupted sweep).
        ``progress`` is called from the indexing thread."""
        return await self._run(self.kb.index, folder_ids, progress, cancel, paused)

    async def reembed(self) -> None:
        """Switch the index to the current embedding model: the old vectors
        are dropped and every document is embedded again by the next sweep."""
        await self._run(self.kb.reembed)

    async def search_documents(
        self, query: str, k: int = 10, mode: str = "hybrid", folder_ids: list[int] | None = None
    ) -> list[DocumentHit]:
        if mode not in ("hybrid", "dense", "keyword"):
            raise ValueError(f"unknown search mode {mode!r} (hybrid, dense or keyword)")
        return await self._run(self.kb.search, query, k, mode, folder_ids)

    async def watch_folders(
        self, on_swept: Callable[[IndexSummary], None] | None = None
    ) -> list[str]:
        """Keep the index current while the app runs; returns notices."""
        return await self._run(self.kb.watch, on_swept)
