"""A real uvicorn server on a free loopback port, in a background thread,
with its own ASSISTANT_HOME; the fake runtime unless a test asks for the
real bundled model."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backend.common.config import Settings
from backend.common.locations import Locations
from backend.runtimes.fake import FakeRuntime
from backend.server.run import Server

TOKEN = "test-token-0123456789"


@dataclass
class Running:
    url: str
    token: str
    server: Server

    def headers(self, **more: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **more}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(backend_kwargs: dict[str, Any], **kwargs: Any) -> Iterator[Running]:
    port = free_port()
    server = Server(TOKEN, "127.0.0.1", port, backend_kwargs=backend_kwargs, **kwargs)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve())
        except BaseException as err:  # surfaced by the fixture
            errors.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    for _ in range(600):
        if server.started.wait(0.1) or errors or not thread.is_alive():
            break
    if errors:
        raise errors[0]
    assert server.started.is_set(), "server did not start"
    yield Running(f"http://127.0.0.1:{port}", TOKEN, server)
    server.stop()
    thread.join(30)


def fake_backend(home: Path) -> dict[str, Any]:
    """The fake-runtime backend ``served`` runs (two models)."""
    return {
        "locations": Locations(home),
        "settings": Settings(default_model="fake-model"),
        "runtimes": [FakeRuntime(models=("fake-model", "fake-other"))],
    }


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Running]:
    """A fresh server per test: for tests that change what it stores
    (conversations, folders, tune-ups) and count it afterwards."""
    yield from start_server(fake_backend(tmp_path / "home"), max_body=64 * 1024)


@pytest.fixture(scope="module")
def served_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """The same server, started once per test module. Only for modules whose
    tests leave nothing another test reads: requests that are refused,
    OpenAI/Ollama calls (not stored as conversations, only logged) and
    embeddings. Tests that create conversations, folders or jobs use
    ``served``."""
    yield from start_server(fake_backend(tmp_path_factory.mktemp("served")), max_body=64 * 1024)
