"""The errors allowed across the API, and their form on the wire:
``{"type", "title", "message"}``.

``ERRORS`` is the one list of error classes a peer may raise again on its
side (each is named in a ``Raises:`` of ``backend.api.contract``). The
server names the nearest allowed class in the error's MRO (so a
``ToolsUnsupportedError`` travels as ``ValueError``, which the UI already
treats as a "cannot do that" answer); the client raises that same class
again, and only ever one of ``ERRORS`` -- an unknown name becomes a plain
``AssistantError`` carrying the server's title. Like ``backend.api.wire``,
no name is ever imported.
"""

from __future__ import annotations

from typing import Any

from backend.api.wire import WireError
from backend.chat.structured import SchemaError
from backend.common.errors import (
    AdapterError,
    AssistantError,
    ConfigError,
    ContextOverflowError,
    ModelError,
    NotFoundError,
    StoreError,
)
from backend.knowledge.errors import EmbeddingError, FolderError, IndexStoreError, ModelMismatch
from backend.modelhub.errors import (
    ChecksumMismatchError,
    GatedRepoError,
    HubUnreachableError,
    ModelHubError,
    ModelNotFoundError,
    PullCancelledError,
    PullInProgressError,
    QuantNotFoundError,
    RemoveRefusedError,
    UnusableModelError,
)
from backend.rag.rerank_base import RerankerError
from backend.rag.types import EvalCancelled
from backend.transfer.errors import ImportFormatError
from backend.tuneup.records import TuneupBusyError

ERRORS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (
        AssistantError,
        ConfigError,
        ModelError,
        StoreError,
        NotFoundError,
        ContextOverflowError,
        AdapterError,
        SchemaError,
        ImportFormatError,
        FolderError,
        IndexStoreError,
        ModelMismatch,
        EmbeddingError,
        RerankerError,
        EvalCancelled,
        TuneupBusyError,
        ModelHubError,  # NotEnoughDiskError travels as this: it carries figures, not just a message
        ChecksumMismatchError,
        HubUnreachableError,
        ModelNotFoundError,
        QuantNotFoundError,
        GatedRepoError,
        PullCancelledError,
        PullInProgressError,
        UnusableModelError,
        RemoveRefusedError,
        WireError,
        ValueError,
        OSError,
    )
}

STATUS = {"NotFoundError": 404, "TuneupBusyError": 409, "ContextOverflowError": 413}
"""HTTP status by error type; every other known error is a 400."""


def error_type(err: BaseException) -> str:
    """The nearest allowed class name of ``err`` (``AssistantError`` if none)."""
    for cls in type(err).__mro__:
        if ERRORS.get(cls.__name__) is cls:
            return cls.__name__
    return "AssistantError"


def encode_error(err: BaseException) -> dict[str, Any]:
    title = getattr(err, "title", None)
    return {
        "type": error_type(err),
        "title": title if isinstance(title, str) else "Invalid request",
        "message": str(err),
    }


def status_for(err: BaseException) -> int:
    return STATUS.get(error_type(err), 400)


def decode_error(payload: Any, fallback: str = "the server answered with an error") -> Exception:
    """The exception to raise for an ``{"error": {...}}`` payload."""
    info = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(info, dict):
        return AssistantError(fallback)
    message = str(info.get("message") or fallback)
    title = info.get("title")
    cls = ERRORS.get(str(info.get("type")), AssistantError)
    err = cls(message)
    if isinstance(err, AssistantError) and isinstance(title, str) and title != err.title:
        err.title = title  # an unknown subclass keeps the server's title
    return err


__all__ = ["ERRORS", "decode_error", "encode_error", "status_for"]
