"""What the RPC layer reads off a contract (``backend.api.contract``).

A contract is a Protocol whose read-only properties are its services (each
a Protocol of methods) and whose other properties are session values read
once on connecting (``settings``, ``unavailable``). For every service
method, ``endpoints`` says how it travels:

- ``call``: arguments in, one result out;
- ``background``: a plain ``def`` returning ``None`` (``cancel``): the
  client sends it without waiting;
- ``stream``: it returns a ``ReplyStream``: the answer is a stream of events
  with a control route (cancel, tool approvals);
- ``job``: it takes a ``progress`` callback: the answer streams progress
  events, then the result; ``cancel``/``paused`` events are mirrored;
- ``handle``: it returns a job handle (``TuneupJobHandle``): the answer
  names a job that outlives the call, which clients follow and cancel.

Parameters typed as callbacks or ``threading.Event``s never travel; the
others are validated against their annotation (pydantic ``TypeAdapter``),
so a peer cannot smuggle a wrong type into the backend.

``record_types`` walks the same signatures for every dataclass that can
cross the wire (``backend.api.wire`` builds only those).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import threading
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter

from backend.chat.reply import ReplyStream
from backend.tuneup.records import TuneupJobHandle

Kind = Literal["call", "background", "stream", "job", "handle"]
HANDLES: tuple[type[Any], ...] = (TuneupJobHandle,)
"""Return types that name a job outliving the call."""
JOB_CONTROLS = ("progress", "cancel", "paused")
"""Server-side parameters a job's stream and control route provide."""


@dataclass(frozen=True)
class Param:
    name: str
    annotation: Any
    required: bool

    @property
    def validator(self) -> TypeAdapter[Any]:
        return _adapter(self.annotation)


@dataclass(frozen=True)
class Endpoint:
    """One method of one service, as RPC serves it."""

    service: str
    name: str
    kind: Kind
    params: tuple[Param, ...]
    """What a client sends (keyword arguments)."""
    server_side: tuple[str, ...]
    """Callbacks and events: provided on the server, never sent."""
    function: Any
    """The Protocol's function (its signature and docstring)."""

    @property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.function)


@cache
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _is_protocol(tp: Any) -> bool:
    return isinstance(tp, type) and bool(getattr(tp, "_is_protocol", False))


def _members(tp: type[Any]) -> list[str]:
    """The names a Protocol declares, in declaration order, own and inherited."""
    names: list[str] = []
    for klass in reversed(tp.__mro__):
        if klass is object or klass is typing.Protocol or klass is typing.Generic:
            continue
        for name in vars(klass):
            if not name.startswith("_") and name not in names:
                names.append(name)
    return names


def _property_type(contract: type[Any], name: str) -> Any:
    prop = inspect.getattr_static(contract, name)
    return typing.get_type_hints(prop.fget)["return"]


def services(contract: type[Any]) -> dict[str, type[Any]]:
    """The contract's services: properties whose type is a Protocol."""
    out = {}
    for name in _members(contract):
        if isinstance(inspect.getattr_static(contract, name), property):
            tp = _property_type(contract, name)
            if _is_protocol(tp):
                out[name] = tp
    return out


def session_values(contract: type[Any]) -> dict[str, Any]:
    """The contract's other properties, by name and type (read on connect)."""
    out = {}
    for name in _members(contract):
        if isinstance(inspect.getattr_static(contract, name), property):
            tp = _property_type(contract, name)
            if not _is_protocol(tp):
                out[name] = tp
    return out


def _parts(tp: Any) -> tuple[Any, ...]:
    """``tp`` without ``None`` when it is an optional/union."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return tuple(a for a in typing.get_args(tp) if a is not type(None))
    return (tp,)


def _server_side(tp: Any) -> bool:
    for part in _parts(tp):
        if part is threading.Event or typing.get_origin(part) is collections.abc.Callable:
            return True
    return False


def _kind(fn: Any, hints: dict[str, Any], server_side: tuple[str, ...]) -> Kind:
    returned = _parts(hints.get("return"))
    if ReplyStream in returned:
        return "stream"
    if any(tp in HANDLES for tp in returned):
        return "handle"
    if "progress" in server_side:
        return "job"
    if not inspect.iscoroutinefunction(fn):
        if hints.get("return") is not type(None):
            raise TypeError(f"{fn.__qualname__}: a plain def in a contract must return None")
        return "background"
    return "call"


_ENDPOINTS: dict[type[Any], dict[tuple[str, str], Endpoint]] = {}
_RECORDS: dict[type[Any], dict[str, type[Any]]] = {}


def endpoints(contract: type[Any]) -> dict[tuple[str, str], Endpoint]:
    """Every method of every service, by (service, method)."""
    if contract in _ENDPOINTS:
        return _ENDPOINTS[contract]
    out: dict[tuple[str, str], Endpoint] = {}
    for service, protocol in services(contract).items():
        for name in _members(protocol):
            fn = inspect.getattr_static(protocol, name)
            if not callable(fn):
                raise TypeError(f"{protocol.__name__}.{name}: services declare methods only")
            hints = typing.get_type_hints(fn)
            params: list[Param] = []
            server_side: list[str] = []
            for p in list(inspect.signature(fn).parameters.values())[1:]:
                annotation = hints[p.name]
                if _server_side(annotation):
                    server_side.append(p.name)
                else:
                    params.append(Param(p.name, annotation, p.default is inspect.Parameter.empty))
            kind = _kind(fn, hints, tuple(server_side))
            out[(service, name)] = Endpoint(
                service, name, kind, tuple(params), tuple(server_side), fn
            )
    _ENDPOINTS[contract] = out
    return out


def _walk(tp: Any, found: dict[str, type[Any]], seen: set[Any]) -> None:
    if tp in seen:
        return
    seen.add(tp)
    origin = typing.get_origin(tp)
    if origin is Literal:
        return
    if origin is not None:
        for arg in typing.get_args(tp):
            if isinstance(arg, list):  # Callable's argument list
                for a in arg:
                    _walk(a, found, seen)
            elif arg is not Ellipsis:
                _walk(arg, found, seen)
        return
    if not isinstance(tp, type):
        return
    if _is_protocol(tp):
        for name in _members(tp):
            member = inspect.getattr_static(tp, name)
            fn = member.fget if isinstance(member, property) else member
            if callable(fn):
                for hint in typing.get_type_hints(fn).values():
                    _walk(hint, found, seen)
        if "__aiter__" in vars(tp):
            _walk(typing.get_type_hints(vars(tp)["__aiter__"])["return"], found, seen)
        return
    if dataclasses.is_dataclass(tp):
        other = found.get(tp.__name__)
        if other is not None and other is not tp:
            raise TypeError(
                f"two records named {tp.__name__} ({other.__module__}, {tp.__module__}): "
                "record names must be unique across the contract"
            )
        found[tp.__name__] = tp
        for hint in typing.get_type_hints(tp).values():
            _walk(hint, found, seen)


def record_types(contract: type[Any]) -> dict[str, type[Any]]:
    """Every dataclass the contract's signatures can carry, by class name."""
    if contract in _RECORDS:
        return _RECORDS[contract]
    found: dict[str, type[Any]] = {}
    seen: set[Any] = set()
    for tp in session_values(contract).values():
        if not (isinstance(tp, type) and issubclass(tp, BaseModel)):
            _walk(tp, found, seen)
    for endpoint in endpoints(contract).values():
        for hint in typing.get_type_hints(endpoint.function).values():
            _walk(hint, found, seen)
    _RECORDS[contract] = found
    return found


__all__ = [
    "HANDLES",
    "Endpoint",
    "Kind",
    "Param",
    "endpoints",
    "record_types",
    "services",
    "session_values",
]
