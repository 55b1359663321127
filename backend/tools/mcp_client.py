"""MCP servers as tool sources: connect, list their tools, call them.

The SDK's client sessions are asyncio objects bound to the loop that opened
them, while the rest of the backend calls tools synchronously from worker
threads. So ``McpConnections`` runs one event loop in a daemon thread that
owns every session, and a tool's ``run`` hands the call to that loop
(``run_coroutine_threadsafe``) and waits with the server's timeout.

Nothing here raises into the caller once constructed: a server that cannot
be started or reached is recorded as down with the reason (``status()``),
and a call that fails, times out or finds the server gone returns
``ToolOutput(error=...)``. A server that died is started again on the next
call to one of its tools.

One server's session lives in ``mcp_connection``; the tools it lists and
the results it returns are turned into ours in ``mcp_tools``.

The SDK (``mcp``, 0.5 s to import) is imported only when a server is
connected, in the loop's thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

from backend.common.config import McpServer
from backend.tools.base import Tool, ToolOutput
from backend.tools.mcp_connection import WAIT_MARGIN_S, ServerConnection
from backend.tools.records import ServerStatus

log = logging.getLogger(__name__)

_CLOSE_S = 10.0


class McpConnections:
    """The servers of ``[[tools.mcp_servers]]``, connected, and their tools.

    Use it from any thread but not from inside its own loop::

        mcp = McpConnections(settings.tools.mcp_servers, log_dir=logs)
        mcp.start()                 # blocks until each server is up or down
        registry.add(mcp.tools())
        ...
        mcp.close()
    """

    def __init__(
        self,
        servers: Sequence[McpServer],
        *,
        log_dir: Path | None = None,
        connect_timeout_s: float | None = None,
    ) -> None:
        """Args:
        servers: The configured servers (disabled ones are listed, not started).
        log_dir: Where stdio servers' stderr goes (``mcp-<name>.log``,
            rewritten at each start); default: anonymous temporary files.
        connect_timeout_s: Time to start a server and list its tools;
            default: each server's ``timeout_s``, as the config documents.
        """
        self._connections: list[ServerConnection] = []
        seen: set[str] = set()
        for server in servers:
            conn = ServerConnection(server, log_dir, connect_timeout_s or server.timeout_s)
            if server.name in seen:
                conn.error = "another MCP server has the same name"
            seen.add(server.name)
            self._connections.append(conn)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def __enter__(self) -> McpConnections:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Connect to every enabled server at once and list its tools.

        Blocks until each is connected or has failed, at most about the
        largest connect timeout; a failure is recorded in ``status()``, never
        raised. Calling it again does nothing.

        Raises:
            RuntimeError: after ``close()``.
        """
        pending = [c for c in self._connections if c.server.enabled and c.error is None]
        with self._lock:
            if self._closed:
                raise RuntimeError("McpConnections.start() after close()")
            if self._loop is not None or not pending:
                return
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="mcp-client", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
        limit = max(c.connect_timeout_s for c in pending) + WAIT_MARGIN_S
        future = asyncio.run_coroutine_threadsafe(_connect_all(pending), loop)
        try:
            future.result(limit)
        except TimeoutError:
            future.cancel()
            log.warning("MCP start-up took longer than %.0f s", limit)

    def status(self) -> list[ServerStatus]:
        """Every configured server, in config order."""
        return [c.status() for c in self._connections]

    def tools(self) -> list[Tool]:
        """The tools of every server that answered, named ``server.tool``.

        A server that died since keeps its tools: calling one starts it
        again, or returns an error saying it is down."""
        tools = []
        for conn in self._connections:
            server = conn.server
            for listed in conn.listed.values():
                tools.append(
                    Tool(
                        name=f"{server.name}.{listed.name}",
                        description=listed.description,
                        parameters=listed.parameters,
                        run=partial(self._run_tool, conn, listed.name),
                        side_effects=server.side_effects,
                        timeout_s=server.timeout_s,
                        origin="mcp",
                        source=server.name,
                    )
                )
        return tools

    def close(self) -> None:
        """Close every session and stop every stdio server (their process
        trees are killed if they do not exit when stdin closes); stop the
        loop. Safe to call twice, and without ``start()``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(_disconnect_all(self._connections), loop)
        try:
            future.result(_CLOSE_S)
        except Exception as err:
            log.warning("MCP servers did not all close cleanly: %r", err)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_CLOSE_S)
        if not thread.is_alive():
            loop.close()
        for conn in self._connections:
            conn.close_log()

    def _run_tool(self, conn: ServerConnection, name: str, arguments: dict[str, Any]) -> ToolOutput:
        label = f"{conn.server.name}.{name}"
        loop = self._loop
        if loop is None or self._closed:
            return ToolOutput(error=f"{label}: MCP connections are closed")
        if threading.current_thread() is self._thread:  # waiting would deadlock the loop
            return ToolOutput(error=f"{label}: called from the MCP loop itself")
        try:
            future = asyncio.run_coroutine_threadsafe(conn.call(name, arguments), loop)
        except RuntimeError:  # the loop was closed in between
            return ToolOutput(error=f"{label}: MCP connections are closed")
        try:
            return future.result(conn.call_budget_s())
        except TimeoutError:
            future.cancel()
            return ToolOutput(error=f"{label} timed out after {conn.server.timeout_s:g} s")
        except Exception as err:  # cancelled by close(), or a bug below
            return ToolOutput(error=f"{label} failed: {err or type(err).__name__}")


async def _connect_all(connections: list[ServerConnection]) -> None:
    await asyncio.gather(*(c.connect() for c in connections))


async def _disconnect_all(connections: list[ServerConnection]) -> None:
    await asyncio.gather(*(c.disconnect() for c in connections))
    loop = asyncio.get_running_loop()
    await loop.shutdown_asyncgens()
