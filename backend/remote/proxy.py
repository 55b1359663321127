"""Remote services generated from the contract: one ``ServiceProxy`` per
service, with one method per Protocol method, made from the endpoint's
kind (``backend.api.spec``) -- nothing here is written per method.

Each generated method has the Protocol method's signature and docstring
(``help()`` and ``inspect`` show them) and binds its arguments the way the
Protocol declares them, so a wrong call fails here with the usual
``TypeError``. Arguments that cannot travel (callbacks, events) stay on
this side: a job's ``progress`` is called in the event loop with each
event, its ``cancel``/``paused`` events are mirrored to the server.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

from backend.api.spec import HANDLES, Endpoint
from backend.remote.jobs import REMOTE_HANDLES
from backend.remote.stream import RemoteStream
from backend.remote.transport import Transport


def _handle_class(endpoint: Endpoint) -> type[Any]:
    returned = typing.get_type_hints(endpoint.function)["return"]
    for handle in HANDLES:
        if handle is returned or handle in typing.get_args(returned):
            return REMOTE_HANDLES[handle]
    raise TypeError(f"{endpoint.service}.{endpoint.name}: no remote class for its handle")


def _method(transport: Transport, endpoint: Endpoint) -> Callable[..., Any]:
    signature = endpoint.signature
    call_path = f"/backend/call/{endpoint.service}/{endpoint.name}"
    stream_path = f"/backend/stream/{endpoint.service}/{endpoint.name}"
    sent = {p.name for p in endpoint.params}

    def arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        bound = signature.bind(None, *args, **kwargs).arguments
        return {name: value for name, value in bound.items() if name in sent}

    def local(args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Any:
        return signature.bind(None, *args, **kwargs).arguments.get(name)

    method: Callable[..., Any]
    if endpoint.kind == "background":

        def method(*args: Any, **kwargs: Any) -> None:
            transport.fire(transport.call(call_path, arguments(args, kwargs)))

    elif endpoint.kind == "call":

        async def method(*args: Any, **kwargs: Any) -> Any:
            return await transport.call(call_path, arguments(args, kwargs))

    elif endpoint.kind == "handle":
        remote_class = _handle_class(endpoint)

        async def method(*args: Any, **kwargs: Any) -> Any:
            body = transport.codec.encode(arguments(args, kwargs))
            response = await transport.request("POST", call_path, body)
            descriptor = response.json()["result"]
            return None if descriptor is None else remote_class(transport, descriptor)

    elif endpoint.kind == "stream":

        async def method(*args: Any, **kwargs: Any) -> Any:
            opened = await transport.open_stream(stream_path, arguments(args, kwargs))
            return RemoteStream(transport, *opened)

    else:  # job

        async def method(*args: Any, **kwargs: Any) -> Any:
            return await transport.job(
                stream_path,
                arguments(args, kwargs),
                local(args, kwargs, "progress"),
                local(args, kwargs, "cancel"),
                local(args, kwargs, "paused"),
            )

    method.__name__ = endpoint.name
    method.__qualname__ = f"{endpoint.service}.{endpoint.name}"
    method.__doc__ = endpoint.function.__doc__
    unbound = signature.replace(parameters=list(signature.parameters.values())[1:])
    setattr(method, "__signature__", unbound)  # noqa: B010 - functions have no such slot
    return method


class ServiceProxy:
    """One remote service: the methods of its Protocol, served by RPC."""

    def __init__(self, transport: Transport, service: str, endpoints: list[Endpoint]) -> None:
        self._service = service
        for endpoint in endpoints:
            setattr(self, endpoint.name, _method(transport, endpoint))

    def __repr__(self) -> str:
        return f"<remote {self._service} service>"
