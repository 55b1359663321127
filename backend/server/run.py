"""Running the server: uvicorn on loopback by default.

``Server`` opens the backend inside uvicorn's event loop (chat streams
bridge threads to *that* loop), serves until stopped and closes the backend.
Binding anything but a loopback address prints a loud warning: the token
then is the only thing between the network and the user's documents.
"""

from __future__ import annotations

import ipaddress
import sys
import threading
from typing import Any, TextIO

import uvicorn

from backend import Backend
from backend.server.app import create_app
from backend.server.defaults import DEFAULT_HOST, DEFAULT_PORT
from backend.server.security import DEFAULT_MAX_BODY


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_exposed(host: str, err: TextIO = sys.stderr) -> bool:
    if is_loopback(host):
        return False
    print(
        "\n" + "!" * 72 + f"\nWARNING: serving on {host}, NOT loopback. Anyone who can reach this"
        " address\nand has the token can read your indexed documents and use your models.\n"
        + "!" * 72
        + "\n",
        file=err,
    )
    return True


class Server:
    """One server; ``started`` is set once it accepts connections."""

    def __init__(
        self,
        token: str,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        allowed_origins: tuple[str, ...] = (),
        max_body: int = DEFAULT_MAX_BODY,
        backend_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.token = token
        self.host, self.port = host, port
        self.allowed_origins, self.max_body = allowed_origins, max_body
        self.backend_kwargs = backend_kwargs or {}
        self.started = threading.Event()
        self._uvicorn: uvicorn.Server | None = None
        self.backend: Backend | None = None
        """The backend being served, once ``serve`` opened it (tests reach in)."""

    async def serve(self) -> None:
        backend = self.backend = await Backend.open(**self.backend_kwargs)
        try:
            app = create_app(backend, self.token, self.allowed_origins, self.max_body)
            config = uvicorn.Config(
                app, host=self.host, port=self.port, log_level="warning", lifespan="off"
            )
            self._uvicorn = uvicorn.Server(config)
            watcher = threading.Thread(target=self._watch_started, daemon=True)
            watcher.start()
            await self._uvicorn.serve()
        finally:
            await backend.close()

    def _watch_started(self) -> None:
        while self._uvicorn is not None and not self._uvicorn.started:
            if self._uvicorn.should_exit:
                return
            threading.Event().wait(0.02)
        self.started.set()

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
