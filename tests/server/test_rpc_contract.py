"""The API is declared once (``backend.api.contract``) and everything else is
derived: the RPC routes (``backend.server.rpc``), the remote client
(``backend.remote``) and the wire's record list (``backend.api.spec``).

A toy contract proves the derivation: a method added to it is served and
callable remotely with no other change."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, make_dataclass
from typing import Any, Protocol

import pytest
import uvicorn
from starlette.applications import Starlette

from backend.api import spec
from backend.api.contract import AssistantAPI
from backend.api.wire import for_contract
from backend.chat.stream import ChatStream
from backend.local.backend import Backend
from backend.remote import RemoteBackend, RemoteClient
from backend.remote.jobs import RemoteTuneupJob
from backend.remote.stream import RemoteStream
from backend.server.rpc import routes_for
from backend.tuneup.job import TuneupJob

from .conftest import free_port

# -- the real contract ------------------------------------------------------------


def _params(sig: inspect.Signature) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in sig.parameters.values() if p.name != "self"]


def test_every_contract_method_is_served_with_its_declared_signature() -> None:
    endpoints = spec.endpoints(AssistantAPI)
    services = spec.services(AssistantAPI)
    assert set(services) == {
        "conversations",
        "telemetry",
        "chat",
        "models",
        "library",
        "documents",
        "tools",
        "evaluation",
        "memory",
        "tuneups",
        "transfer",
    }
    local = Backend()
    remote = RemoteBackend("http://127.0.0.1:9", "token")  # never started: nothing connects
    for (service, name), endpoint in endpoints.items():
        declared = _params(endpoint.signature)
        mine = getattr(getattr(local, service), name)
        theirs = getattr(getattr(remote, service), name)
        assert _params(inspect.signature(mine)) == declared, f"local {service}.{name}"
        assert _params(inspect.signature(theirs)) == declared, f"remote {service}.{name}"
        asynchronous = inspect.iscoroutinefunction(endpoint.function)
        assert inspect.iscoroutinefunction(mine) == asynchronous, f"{service}.{name}"
        assert inspect.iscoroutinefunction(theirs) == asynchronous, f"{service}.{name}"
        assert theirs.__doc__ == endpoint.function.__doc__
    # no life-cycle or private member is served
    assert not {name for _, name in endpoints} & {"start", "close", "open"}
    assert not any(name.startswith("_") for _, name in endpoints)


def test_endpoint_kinds_are_read_off_the_signatures() -> None:
    kinds = {key: e.kind for key, e in spec.endpoints(AssistantAPI).items()}
    assert kinds[("chat", "send")] == "stream"
    assert kinds[("chat", "cancel")] == "background"
    assert kinds[("documents", "index")] == "job"
    assert spec.endpoints(AssistantAPI)[("documents", "index")].server_side == (
        "progress",
        "cancel",
        "paused",
    )
    assert kinds[("documents", "watch_folders")] == "call"  # on_swept stays local
    assert kinds[("tuneups", "start_tuneup")] == "handle"
    assert kinds[("conversations", "thread")] == "call"


def test_the_handles_have_one_protocol_each_side() -> None:
    from backend.chat.reply import ReplyStream
    from backend.tuneup.records import TuneupJobHandle

    # explicit subclasses, so mypy checks each against the one declaration
    assert ReplyStream in ChatStream.__mro__ and ReplyStream in RemoteStream.__mro__
    assert TuneupJobHandle in TuneupJob.__mro__ and TuneupJobHandle in RemoteTuneupJob.__mro__


def test_wire_records_are_derived_from_the_signatures() -> None:
    registry = for_contract(AssistantAPI).registry
    # returned records, nested ones, streamed events and job progress all count
    for name in ("Conversation", "FolderStatus", "Folder", "TextDelta", "IndexProgress"):
        assert name in registry
    assert "TuneupUpdate" in registry  # via the tune-up handle's updates()
    assert "Settings" not in registry  # pydantic: travels as the session's JSON
    assert all(isinstance(cls, type) for cls in registry.values())


HitA = make_dataclass("Hit", [("a", int)], frozen=True)
HitB = make_dataclass("Hit", [("b", str)], frozen=True)


class Clash(Protocol):
    async def one(self) -> HitA: ...  # type: ignore[valid-type]

    async def two(self) -> HitB: ...  # type: ignore[valid-type]


class ClashAPI(Protocol):
    @property
    def clash(self) -> Clash: ...


def test_two_records_with_one_name_are_refused() -> None:
    with pytest.raises(TypeError, match="two records named Hit"):
        spec.record_types(ClashAPI)


# -- a toy contract, served for real ------------------------------------------------


@dataclass(frozen=True)
class Total:
    value: int
    terms: tuple[int, ...]


class CalcAPI(Protocol):
    async def add(self, a: int, b: int = 1) -> Total: ...

    async def count(self, to: int, progress: Callable[[int], None] | None = None) -> list[int]: ...


class ToyAPI(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def calc(self) -> CalcAPI: ...


class MoreCalcAPI(CalcAPI, Protocol):
    """The toy contract with one more method, and nothing else changed."""

    async def mul(self, a: int, b: int) -> Total: ...


class MoreToyAPI(ToyAPI, Protocol):
    @property
    def calc(self) -> MoreCalcAPI: ...


class Calc:
    async def add(self, a: int, b: int = 1) -> Total:
        return Total(a + b, (a, b))

    async def count(self, to: int, progress: Callable[[int], None] | None = None) -> list[int]:
        out = []
        for i in range(1, to + 1):
            out.append(i)
            if progress is not None:
                progress(i)
        return out

    async def mul(self, a: int, b: int) -> Total:
        return Total(a * b, (a, b))


class Toy:
    label = "toy"
    calc = Calc()


def _serve(contract: type[Any]) -> Iterator[str]:
    app = Starlette(routes=routes_for(contract))
    app.state.backend = Toy()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        threading.Event().wait(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def toy_url() -> Iterator[str]:
    yield from _serve(MoreToyAPI)


@pytest.fixture
async def toy(toy_url: str) -> AsyncIterator[Any]:
    client = RemoteClient(MoreToyAPI, toy_url, "unused")
    await client.start()
    yield client
    await client.close()


async def test_a_toy_contract_is_served_and_callable_remotely(toy: Any) -> None:
    assert toy.session == {"label": "toy"}
    assert await toy.calc.add(2, b=3) == Total(5, (2, 3))
    assert await toy.calc.add(4) == Total(5, (4, 1))  # the declared default, applied there
    seen: list[int] = []
    assert await toy.calc.count(3, progress=seen.append) == [1, 2, 3]
    await asyncio.sleep(0)
    assert seen == [1, 2, 3]  # the callback stayed here, fed by the stream


async def test_a_method_added_to_the_toy_contract_needs_no_other_change(toy: Any) -> None:
    # ``mul`` exists only in MoreCalcAPI: declared once, implemented once
    assert "mul" not in {name for _, name in spec.endpoints(ToyAPI)}
    assert await toy.calc.mul(6, 7) == Total(42, (6, 7))
    assert list(inspect.signature(toy.calc.mul).parameters) == ["a", "b"]


async def test_toy_arguments_are_validated_against_the_protocol(toy: Any) -> None:
    with pytest.raises(ValueError, match=r"calc\.add\(\): a"):
        await toy.calc.add("not a number")
    with pytest.raises(TypeError):
        await toy.calc.add()  # bound like the Protocol: ``a`` is required
