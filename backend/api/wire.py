"""A small typed JSON codec for the records of a contract, used by the RPC
API (``backend.server.rpc``) and its client (``backend.remote``).

Why not pickle (or ``__module__`` + ``__qualname__`` imports): decoding is a
security boundary. The server decodes a client's arguments and the client
decodes the server's answers with the same codec, and either side may only
ever build the record classes the contract's signatures name
(``backend.api.spec.record_types``: plain frozen dataclasses of strings,
numbers and other records). An unknown ``__type__``, an unknown field or a
missing one is a ``WireError``, never an import.

The encoding, recursively:

- ``None``, bools, ints, floats, strings and lists are themselves;
- a dict with string keys (none of them ``__type__``) is itself;
- a record is ``{"__type__": "Conversation", ...init fields}`` (record names
  are unique across a contract; ``spec`` refuses two of the same name);
- ``tuple``, ``set``/``frozenset``, other dicts, ``Path`` and ``datetime``
  are tagged: ``{"__type__": "tuple", "items": [...]}``,
  ``{"__type__": "Path", "value": "/a/b"}``, ``{"__type__": "datetime",
  "value": "<ISO 8601>"}``, ``{"__type__": "dict", "items": [[k, v], ...]}``.

Encoding an unregistered object is a ``WireError`` too: the server never
leaks a type the client could not decode.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

from backend.api.spec import record_types
from backend.common.errors import AssistantError

TAG = "__type__"

_MAX_DEPTH = 64


class WireError(AssistantError):
    """A value that the codec refuses to encode or decode."""

    title = "Protocol error"


class Codec:
    """Encodes and decodes the records of one contract (``for_contract``)."""

    def __init__(self, registry: dict[str, type[Any]]) -> None:
        self.registry = registry
        self._names = {cls: name for name, cls in registry.items()}

    def encode(self, value: Any, _depth: int = 0) -> Any:
        """``value`` as JSON-able data (see the module docstring).

        Raises:
            WireError: not a registered record, or nested too deeply.
        """
        if _depth > _MAX_DEPTH:
            raise WireError("value nested too deeply")
        d = _depth + 1
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, list):
            return [self.encode(v, d) for v in value]
        if isinstance(value, tuple):
            return {TAG: "tuple", "items": [self.encode(v, d) for v in value]}
        if isinstance(value, set | frozenset):
            return {TAG: "set", "items": [self.encode(v, d) for v in value]}
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value) and TAG not in value:
                return {k: self.encode(v, d) for k, v in value.items()}
            items = [[self.encode(k, d), self.encode(v, d)] for k, v in value.items()]
            return {TAG: "dict", "items": items}
        if isinstance(value, PurePath):
            return {TAG: "Path", "value": str(value)}
        if isinstance(value, datetime):
            return {TAG: "datetime", "value": value.isoformat()}
        name = self._names.get(type(value))
        if name is None:
            raise WireError(f"cannot encode a {type(value).__name__}: not a registered record")
        out: dict[str, Any] = {TAG: name}
        for f in dataclasses.fields(value):
            if f.init:
                out[f.name] = self.encode(getattr(value, f.name), d)
        return out

    def decode(self, data: Any, _depth: int = 0) -> Any:
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
            return [self.decode(v, d) for v in data]
        if not isinstance(data, dict):
            raise WireError(f"unexpected JSON value of type {type(data).__name__}")
        if TAG not in data:
            return {k: self.decode(v, d) for k, v in data.items()}
        tag = data[TAG]
        if not isinstance(tag, str):
            raise WireError("__type__ must be a string")
        if tag in ("tuple", "set", "dict"):
            return self._collection(tag, data, d)
        if tag in ("Path", "datetime"):
            return _scalar(tag, data)
        cls = self.registry.get(tag)
        if cls is None:
            raise WireError(f"unknown record type {tag!r}")
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        given = {k: v for k, v in data.items() if k != TAG}
        unknown = set(given) - names
        if unknown:
            raise WireError(f"{tag} has no field {', '.join(sorted(unknown))}")
        try:
            return cls(**{k: self.decode(v, d) for k, v in given.items()})
        except TypeError as err:  # a required field is missing
            raise WireError(f"bad {tag}: {err}") from err

    def _collection(self, tag: str, data: dict[str, Any], d: int) -> Any:
        items = data.get("items")
        if not isinstance(items, list) or len(data) != 2:
            raise WireError(f"a tagged {tag} needs exactly an 'items' list")
        if tag == "tuple":
            return tuple(self.decode(v, d) for v in items)
        if tag == "set":
            return {self.decode(v, d) for v in items}
        if not all(isinstance(p, list) and len(p) == 2 for p in items):
            raise WireError("a tagged dict's items must be [key, value] pairs")
        return {self.decode(k, d): self.decode(v, d) for k, v in items}


def _scalar(tag: str, data: dict[str, Any]) -> Any:
    raw = data.get("value")
    if not isinstance(raw, str) or len(data) != 2:
        raise WireError(f"a tagged {tag} needs exactly a string 'value'")
    if tag == "Path":
        return Path(raw)
    try:
        return datetime.fromisoformat(raw)
    except ValueError as err:
        raise WireError(f"bad datetime {raw!r}") from err


_CODECS: dict[type[Any], Codec] = {}


def for_contract(contract: type[Any]) -> Codec:
    """The codec of ``contract``'s records (``backend.api.spec.record_types``)."""
    if contract not in _CODECS:
        _CODECS[contract] = Codec(record_types(contract))
    return _CODECS[contract]


__all__ = ["Codec", "WireError", "for_contract"]
