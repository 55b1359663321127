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

A stdio server's stderr goes to a file (``log_dir/mcp-<name>.log``, or an
anonymous temporary file), never to the terminal the TUI draws on; its last
line is quoted when the server fails.

The SDK (``mcp``, 0.5 s to import) is imported only when a server is
connected, in the loop's thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import tempfile
import threading
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TextIO, cast

from backend.config import McpServer
from backend.tools.base import Tool, ToolOutput
from backend.tools.mcp_schema import grammar_safe_schema, unique_tool_names

if TYPE_CHECKING:
    import anyio
    from mcp import ClientSession
    from mcp.types import CallToolResult, ContentBlock

log = logging.getLogger(__name__)

Transport = Literal["stdio", "http"]

_WAIT_MARGIN_S = 2.0
"""Extra time a caller's thread waits beyond the server's timeout before it
gives up on the loop itself (the loop enforces the timeout first)."""
_GRACEFUL_S = 4.0
"""Time for sessions to close cleanly (a stdio child gets 2 s after its
stdin closes, then SIGTERM) before they are cancelled."""
_CLOSE_S = 10.0
_MAX_TOOL_PAGES = 100


@dataclass(frozen=True)
class ServerStatus:
    """One configured server as the UI shows it."""

    name: str
    transport: Transport
    target: str
    """The command (stdio) or the URL (streamable HTTP)."""
    enabled: bool
    connected: bool
    tools: int
    """Tools it offers (the last listing; 0 before it ever connected)."""
    error: str | None = None
    """Why it is down: cannot start, no answer in time, lost the connection."""


@dataclass(frozen=True)
class _Listed:
    """One tool of a server: our name, the server's name, what the model sees."""

    name: str
    mcp_name: str
    description: str
    parameters: dict[str, Any]


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
        self._connections: list[_Connection] = []
        seen: set[str] = set()
        for server in servers:
            conn = _Connection(server, log_dir, connect_timeout_s or server.timeout_s)
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
        limit = max(c.connect_timeout_s for c in pending) + _WAIT_MARGIN_S
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

    def _run_tool(self, conn: _Connection, name: str, arguments: dict[str, Any]) -> ToolOutput:
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


async def _connect_all(connections: list[_Connection]) -> None:
    await asyncio.gather(*(c.connect() for c in connections))


async def _disconnect_all(connections: list[_Connection]) -> None:
    await asyncio.gather(*(c.disconnect() for c in connections))
    loop = asyncio.get_running_loop()
    await loop.shutdown_asyncgens()


@dataclass
class _Hold:
    """One attempt at a session: the task that keeps it open, and how to end it."""

    scope: anyio.CancelScope
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class _Connection:
    """One server's session. Everything but ``status``/``listed``/``close_log``
    runs on the loop's thread."""

    def __init__(self, server: McpServer, log_dir: Path | None, connect_timeout_s: float) -> None:
        self.server = server
        self.connect_timeout_s = connect_timeout_s
        self.transport: Transport = "stdio" if server.command is not None else "http"
        self.session: ClientSession | None = None
        self.listed: dict[str, _Listed] = {}
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
        budget = self.server.timeout_s + _WAIT_MARGIN_S
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
            return ToolOutput(error=f"{label} failed: {_message(err)}")
        return _output(result)

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
                    self.listed = _describe(await _list_tools(session))
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
            return _message(leaf) + self._stderr_tail()
        return f"{server.url}: {_message(leaf)}"


def _leaf(err: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups."""
    while isinstance(err, BaseExceptionGroup):
        inner = [e for e in err.exceptions if not isinstance(e, asyncio.CancelledError)]
        err = (inner or list(err.exceptions))[0]
    return err


def _message(err: BaseException) -> str:
    from mcp import MCPError

    if isinstance(err, MCPError):
        return err.message
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


async def _list_tools(session: ClientSession) -> list[Any]:
    from mcp.types import PaginatedRequestParams

    tools: list[Any] = []
    cursor: str | None = None
    for _ in range(_MAX_TOOL_PAGES):
        params = PaginatedRequestParams(cursor=cursor) if cursor else None
        result = await session.list_tools(params=params)
        tools.extend(result.tools)
        cursor = result.next_cursor
        if not cursor:
            break
    return tools


def _describe(tools: list[Any]) -> dict[str, _Listed]:
    """Our view of the server's tools (``mcp.types.Tool``), keyed by our name."""
    names = unique_tool_names([t.name for t in tools])
    listed = {}
    for name, tool in zip(names, tools, strict=True):
        description = (tool.description or tool.title or "").strip()
        listed[name] = _Listed(
            name=name,
            mcp_name=tool.name,
            description=description or f"The MCP tool {tool.name}.",
            parameters=grammar_safe_schema(tool.input_schema),
        )
    return listed


def _output(result: CallToolResult) -> ToolOutput:
    """A tool result as text (content blocks joined); ``is_error`` → error."""
    parts = [_block_text(block) for block in result.content]
    text = "\n".join(p for p in parts if p)
    data = result.structured_content
    if not text and data is not None:
        text = json.dumps(data, ensure_ascii=False)
    if result.is_error:
        return ToolOutput(error=text or "the tool reported an error", data=data)
    return ToolOutput(text=text, data=data)


def _block_text(block: ContentBlock) -> str:
    from mcp import types

    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent):
        return f"[image: {block.mime_type}]"
    if isinstance(block, types.AudioContent):
        return f"[audio: {block.mime_type}]"
    if isinstance(block, types.ResourceLink):
        return f"[resource: {block.uri}]"
    if isinstance(block, types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, types.TextResourceContents):
            return resource.text
        return f"[resource: {resource.uri} ({resource.mime_type or 'binary'})]"
    return f"[{getattr(block, 'type', 'content')}]"
