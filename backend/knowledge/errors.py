"""The knowledge base's errors, apart from the code that raises them so the
API contract and a remote client can name them without loading that code."""

from __future__ import annotations

from backend.common.errors import AssistantError


class FolderError(AssistantError):
    title = "Folder problem"


class IndexStoreError(AssistantError):
    """A knowledge-base write was refused or failed (nothing was changed)."""

    title = "Knowledge base problem"


class ModelMismatch(IndexStoreError):
    """The index holds vectors from a different embedding model."""

    title = "Embedding model changed"


class EmbeddingError(AssistantError):
    """The embedding model is missing, unreadable, or failed to embed."""

    title = "Embedding model problem"
