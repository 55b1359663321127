"""A small typed JSON codec for the backend's records, used by the RPC API
(``backend.server.rpc``) and its client (``backend.remote``).

Why not pickle (or ``__module__`` + ``__qualname__`` imports): decoding is a
security boundary. The server decodes a client's arguments and the client
decodes the server's answers with the same codec, and either side may only
ever build the classes named in ``REGISTRY`` -- an explicit, hand-written
list of the facade's plain data records (frozen dataclasses of strings,
numbers and other records). An unknown ``__type__``, an unknown field or a
missing one is a ``WireError``, never an import.

The encoding, recursively:

- ``None``, bools, ints, floats, strings and lists are themselves;
- a dict with string keys (none of them ``__type__``) is itself;
- a registered dataclass is ``{"__type__": "Conversation", ...init fields}``;
- ``tuple``, ``set``/``frozenset``, other dicts, ``Path`` and ``datetime``
  are tagged: ``{"__type__": "tuple", "items": [...]}``,
  ``{"__type__": "Path", "value": "/a/b"}``, ``{"__type__": "datetime",
  "value": "<ISO 8601>"}``, ``{"__type__": "dict", "items": [[k, v], ...]}``.

Encoding an unregistered object is a ``WireError`` too: the server never
leaks a type the client could not decode. The two ``SearchHit`` records
travel as ``SearchHit`` (conversation search) and ``DocumentHit``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

from backend.common.errors import AssistantError
from backend.common.events import (
    CitationsParsed,
    Done,
    ErrorEvent,
    HistoryTrimmed,
    MessageSaved,
    MessageStarted,
    SourceRef,
    SourcesRetrieved,
    TextDelta,
    ToolCallEvent,
    ToolCallFinished,
    ToolCallProposed,
    Usage,
)
from backend.knowledge.records import (
    Document,
    DocumentHit,
    Folder,
    FolderStatus,
    IndexProgress,
    IndexSummary,
)
from backend.modelfiles.adapters import Adapter
from backend.modelfiles.catalog import ModelInfo
from backend.rag.eval_runs import EvalQuestion, EvalRun
from backend.rag.types import EvalProgress, SourceView
from backend.runtimes.registry import UnavailableRuntime
from backend.runtimes.status import RuntimeStatus
from backend.store.records import (
    Conversation,
    Message,
    ModelStats,
    Preset,
    RequestRecord,
    SearchHit,
)
from backend.tuneup.job import TuneupUpdate

TAG = "__type__"

REGISTRY: dict[str, type] = {
    # conversations, telemetry
    "Conversation": Conversation,
    "Message": Message,
    "SearchHit": SearchHit,
    "Preset": Preset,
    "RequestRecord": RequestRecord,
    "ModelStats": ModelStats,
    # models
    "ModelInfo": ModelInfo,
    "UnavailableRuntime": UnavailableRuntime,
    # knowledge base
    "Folder": Folder,
    "FolderStatus": FolderStatus,
    "Document": Document,
    "DocumentHit": DocumentHit,
    "IndexProgress": IndexProgress,
    "IndexSummary": IndexSummary,
    "SourceView": SourceView,
    # evaluation
    "EvalRun": EvalRun,
    "EvalQuestion": EvalQuestion,
    "EvalProgress": EvalProgress,
    "RuntimeStatus": RuntimeStatus,
    # tune-ups
    "Adapter": Adapter,
    "TuneupUpdate": TuneupUpdate,
    # chat events
    "TextDelta": TextDelta,
    "ToolCallEvent": ToolCallEvent,
    "Usage": Usage,
    "Done": Done,
    "ErrorEvent": ErrorEvent,
    "MessageStarted": MessageStarted,
    "HistoryTrimmed": HistoryTrimmed,
    "MessageSaved": MessageSaved,
    "SourceRef": SourceRef,
    "SourcesRetrieved": SourcesRetrieved,
    "CitationsParsed": CitationsParsed,
    "ToolCallProposed": ToolCallProposed,
    "ToolCallFinished": ToolCallFinished,
}
"""Every class the codec may build, by wire name. Only plain data records:
adding a class with behaviour in ``__init__``/``__post_init__`` here would
let a peer run it."""

_NAMES: dict[type, str] = {cls: name for name, cls in REGISTRY.items()}
_MAX_DEPTH = 64


class WireError(AssistantError):
    """A value that the codec refuses to encode or decode."""

    title = "Protocol error"


def encode(value: Any, _depth: int = 0) -> Any:
    """``value`` as JSON-able data (see the module docstring)."""
    if _depth > _MAX_DEPTH:
        raise WireError("value nested too deeply")
    d = _depth + 1
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [encode(v, d) for v in value]
    if isinstance(value, tuple):
        return {TAG: "tuple", "items": [encode(v, d) for v in value]}
    if isinstance(value, set | frozenset):
        return {TAG: "set", "items": [encode(v, d) for v in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and TAG not in value:
            return {k: encode(v, d) for k, v in value.items()}
        return {TAG: "dict", "items": [[encode(k, d), encode(v, d)] for k, v in value.items()]}
    if isinstance(value, PurePath):
        return {TAG: "Path", "value": str(value)}
    if isinstance(value, datetime):
        return {TAG: "datetime", "value": value.isoformat()}
    name = _NAMES.get(type(value))
    if name is None:
        raise WireError(f"cannot encode a {type(value).__name__}: not a registered record")
    out: dict[str, Any] = {TAG: name}
    for f in dataclasses.fields(value):
        if f.init:
            out[f.name] = encode(getattr(value, f.name), d)
    return out


def decode(data: Any, _depth: int = 0) -> Any:
    """The value ``encode`` made ``data`` from; only registered classes are built.

    Raises:
        WireError: an unknown ``__type__``, field or shape.
    """
    if _depth > _MAX_DEPTH:
        raise WireError("value nested too deeply")
    d = _depth + 1
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, list):
        return [decode(v, d) for v in data]
    if not isinstance(data, dict):
        raise WireError(f"unexpected JSON value of type {type(data).__name__}")
    if TAG not in data:
        return {k: decode(v, d) for k, v in data.items()}
    tag = data[TAG]
    if not isinstance(tag, str):
        raise WireError("__type__ must be a string")
    if tag in ("tuple", "set", "dict"):
        items = data.get("items")
        if not isinstance(items, list) or len(data) != 2:
            raise WireError(f"a tagged {tag} needs exactly an 'items' list")
        if tag == "tuple":
            return tuple(decode(v, d) for v in items)
        if tag == "set":
            return {decode(v, d) for v in items}
        if not all(isinstance(p, list) and len(p) == 2 for p in items):
            raise WireError("a tagged dict's items must be [key, value] pairs")
        return {decode(k, d): decode(v, d) for k, v in items}
    if tag in ("Path", "datetime"):
        raw = data.get("value")
        if not isinstance(raw, str) or len(data) != 2:
            raise WireError(f"a tagged {tag} needs exactly a string 'value'")
        if tag == "Path":
            return Path(raw)
        try:
            return datetime.fromisoformat(raw)
        except ValueError as err:
            raise WireError(f"bad datetime {raw!r}") from err
    cls = REGISTRY.get(tag)
    if cls is None:
        raise WireError(f"unknown record type {tag!r}")
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    given = {k: v for k, v in data.items() if k != TAG}
    unknown = set(given) - names
    if unknown:
        raise WireError(f"{tag} has no field {', '.join(sorted(unknown))}")
    try:
        return cls(**{k: decode(v, d) for k, v in given.items()})
    except TypeError as err:  # a required field is missing
        raise WireError(f"bad {tag}: {err}") from err


__all__ = ["REGISTRY", "WireError", "decode", "encode"]
