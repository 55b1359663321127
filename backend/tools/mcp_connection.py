"""One MCP server's session: start or reach it, keep it open, call a tool.

Everything here runs on the event loop ``McpConnections`` keeps in its
thread (``mcp_client``); a failure is recorded as the server's ``error``
(shown in ``ServerStatus``) or returned as ``ToolOutput(error=...)``, never
raised. A server that died is started again on the next call to one of
its tools.

A stdio server's stderr goes to a file (``log_dir/mcp-<name>.log``, or an
anonymous temporary file), never to the terminal the TUI draws on; its last
line is quoted when the server fails.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from backend.common.config import McpServer
from backend.tools.base import ToolOutput
from backend.tools.mcp_tools import (
    ListedTool,
    describe_tools,
    error_message,
    list_tools,
    tool_output,
)
from backend.tools.records import ServerStatus, Transport

if TYPE_CHECKING:
    import anyio
    from mcp import ClientSession

log = logging.getLogger(__name__)


WAIT_MARGIN_S = 2.0
"""Extra time a caller's thread waits beyond the server's timeout before it
gives up on the loop itself (the loop enforces the timeout first)."""
_GRACEFUL_S = 4.0
"""Time for sessions to close cleanly (a stdio child gets 2 s after its
stdin closes, then SIGTERM) before they are cancelled."""


@dataclass
class _Hold:
    """One attempt at a session: the task that keeps it open, and how to end it."""

    scope: anyio.CancelScope
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class ServerConnection:
    """One server's session. Everything but ``status``/``listed``/``close_log``
    runs on the loop's thread."""

    def __init__(self, server: McpServer, log_dir: Path | None, connect_timeout_s: float) -> None:
        self.server = server
        self.connect_timeout_s = connect_timeout_s
        self.transport: Transport = "stdio" if server.command is not None else "http"
        self.session: ClientSession | None = None
        self.listed: dict[str, ListedTool] = {}
        """Replaced whole, so other threads may read it."""
        self.error: str | None = None
        self._log_dir = log_dir
        self._stderr: TextIO | None = None
        self._holds: dict[asyncio.Task[None], _Hold] = {}
        self._lock = asyncio.Lock()
        self._closing = False

    def status(self) -> ServerStatus:
        target = self.server.command if self.transport == "stdio" else self.server.url
        return ServerStatus(
            name=self.server.name,
            transport=self.transport,
            target=target or "",
            enabled=self.server.enabled,
            connected=self.session is not None,
            tools=len(self.listed),
            error=self.error,
        )

    def call_budget_s(self) -> float:
        """How long a caller's thread waits for one call (the loop enforces
        the timeouts first)."""
        budget = self.server.timeout_s + WAIT_MARGIN_S
        return budget + (self.connect_timeout_s if self.session is None else 0.0)

    async def connect(self) -> None:
        """Open the session and list the tools in time, or record why not."""
        import anyio

        timeout = self.connect_timeout_s
        async with self._lock:
            if self.session is not None or self._closing:
                return
            hold = _Hold(scope=anyio.CancelScope(deadline=anyio.current_time() + timeout))
            task = asyncio.create_task(self._hold(hold), name=f"mcp-{self.server.name}")
            self._holds[task] = hold
            task.add_done_callback(self._held)
            waiter = asyncio.create_task(hold.ready.wait())
            try:
                await asyncio.wait(
                    {task, waiter}, timeout=timeout + 0.2, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                waiter.cancel()
            if hold.ready.is_set():
                self.error = None
            elif self._closing:
                self.error = "closed while connecting"
            elif task.done() and not task.cancelled() and (err := task.exception()) is not None:
                self.error = self._reason(err)
            else:
                self.error = f"no answer within {timeout:g} s" + self._stderr_tail()
            if self.error is not None:
                log.warning("MCP server %s is down: %s", self.server.name, self.error)

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        """Call tool ``name`` (our name); every failure is an error output."""
        from mcp import MCPError
        from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        server = self.server
        label = f"{server.name}.{name}"
        if self.session is None:
            await self.connect()
        session = self.session
        if session is None:
            return ToolOutput(error=f"MCP server {server.name!r} is down: {self.error}")
        listed = self.listed.get(name)
        if listed is None:
            return ToolOutput(error=f"{label}: the MCP server no longer offers this tool")
        try:
            result = await session.call_tool(
                listed.mcp_name,
                arguments,
                read_timeout_seconds=server.timeout_s,
            )
        except MCPError as err:
            if err.code == REQUEST_TIMEOUT:
                return ToolOutput(error=f"{label} timed out after {server.timeout_s:g} s")
            if err.code == CONNECTION_CLOSED:
                self._lost("the server closed the connection" + self._stderr_tail())
                return ToolOutput(error=f"MCP server {server.name!r} is down: {self.error}")
            return ToolOutput(error=f"{label} failed: {err.message}")
        except Exception as err:  # a malformed result, an input request we cannot answer
            return ToolOutput(error=f"{label} failed: {error_message(err)}")
        return tool_output(result)

    async def disconnect(self) -> None:
        """End every session of this server: cleanly first, then by cancelling."""
        self._closing = True
        self.session = None
        if not self._holds:
            return
        for hold in self._holds.values():
            hold.stop.set()
            if not hold.ready.is_set():
                hold.scope.cancel()
        _, pending = await asyncio.wait(set(self._holds), timeout=_GRACEFUL_S)
        for task in pending:
            self._holds[task].scope.cancel()
        if pending:
            _, pending = await asyncio.wait(pending, timeout=_GRACEFUL_S)
        for task in pending:  # only a transport that ignores anyio cancellation gets here
            task.cancel()

    def close_log(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    async def _hold(self, hold: _Hold) -> None:
        """Open the session, list the tools, then keep it open until told to stop."""
        session: ClientSession | None = None
        try:
            with hold.scope:
                async with AsyncExitStack() as stack:
                    session = await self._open(stack)
                    await session.initialize()
                    self.listed = describe_tools(await list_tools(session))
                    self.session = session
                    hold.scope.deadline = math.inf  # the timeout was for connecting
                    hold.ready.set()
                    await hold.stop.wait()
        finally:
            if session is not None and self.session is session:
                self.session = None

    def _held(self, task: asyncio.Task[None]) -> None:
        hold = self._holds.pop(task)
        err = None if task.cancelled() else task.exception()
        # A newer session may already be up: then this old one's end is news to nobody.
        if hold.ready.is_set() and err is not None and not self._closing and self.session is None:
            self.error = "lost the connection: " + self._reason(err)
            log.warning("MCP server %s is down: %s", self.server.name, self.error)

    def _lost(self, why: str) -> None:
        """The session is dead: record why and let its task clean up."""
        self.error = why
        self.session = None
        log.warning("MCP server %s is down: %s", self.server.name, why)
        for hold in self._holds.values():
            hold.scope.cancel()

    async def _open(self, stack: AsyncExitStack) -> ClientSession:
        from mcp import ClientSession

        server = self.server
        if server.command is not None:
            from mcp import StdioServerParameters, stdio_client

            params = StdioServerParameters(
                command=server.command, args=list(server.args), env=dict(server.env) or None
            )
            read, write = await stack.enter_async_context(
                stdio_client(params, errlog=self._new_stderr())
            )
        else:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            assert server.url is not None
            # Read timeout: the server may hold an event stream open; each
            # request has its own timeout on top.
            client = httpx2.AsyncClient(
                headers=server.headers or None,
                timeout=httpx2.Timeout(server.timeout_s, read=300.0),
            )
            await stack.enter_async_context(client)
            read, write = await stack.enter_async_context(
                streamable_http_client(server.url, http_client=client)
            )
        return await stack.enter_async_context(ClientSession(read, write))

    def _new_stderr(self) -> TextIO:
        self.close_log()
        if self._log_dir is not None:
            self._log_dir.mkdir(parents=True, exist_ok=True)
            path = self._log_dir / f"mcp-{self.server.name}.log"
            self._stderr = path.open("w+", encoding="utf-8", errors="replace")
        else:
            # Kept open (read back by ``_stderr_tail``) until the next start or close.
            stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
            self._stderr = cast(TextIO, stderr)
        return self._stderr

    def _stderr_tail(self) -> str:
        """`` (stderr: <its last line>)``, or nothing."""
        if self._stderr is None or self.transport != "stdio":
            return ""
        try:
            fd = self._stderr.fileno()
            size = os.fstat(fd).st_size
            # pread leaves the offset the child shares with us alone.
            data = os.pread(fd, 4096, max(0, size - 4096))
        except (OSError, AttributeError, ValueError):
            return ""
        lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
        return f" (stderr: {lines[-1][:300]})" if lines else ""

    def _reason(self, err: BaseException) -> str:
        """A one-line reason for a failed or lost session."""
        from mcp import MCPError
        from mcp.types import CONNECTION_CLOSED

        leaf = _leaf(err)
        server = self.server
        if self.transport == "stdio":
            if isinstance(leaf, FileNotFoundError):
                return f"cannot start {server.command!r}: command not found"
            if isinstance(leaf, OSError) and leaf.filename is not None:
                return f"cannot start {server.command!r}: {leaf.strerror or leaf}"
            if isinstance(leaf, MCPError) and leaf.code == CONNECTION_CLOSED:
                return "the server exited" + self._stderr_tail()
            return error_message(leaf) + self._stderr_tail()
        return f"{server.url}: {error_message(leaf)}"


def _leaf(err: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups."""
    while isinstance(err, BaseExceptionGroup):
        inner = [e for e in err.exceptions if not isinstance(e, asyncio.CancelledError)]
        err = (inner or list(err.exceptions))[0]
    return err
