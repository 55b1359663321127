"""The tools service: which tools a conversation may call, MCP servers,
approvals, the calls kept with each reply, and the tool-decision evaluation.

MCP servers are connected in a background thread on first need (start-up
never waits for a slow or dead server); until they are up, chat offers the
built-in tools only. A conversation's "allow for this conversation"
answers live in memory for the backend's lifetime: a restart asks again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backend.chat.tool_loop import Approvals, ToolTurn
from backend.common.errors import AssistantError
from backend.common.events import ToolCallFinished
from backend.local.core import Core
from backend.local.models import ModelService
from backend.runtimes.base import ChatMessage
from backend.store.records import Conversation
from backend.tools.base import Tool
from backend.tools.builtin import ToolContext, builtin_tools
from backend.tools.calling import ToolRouter, decide
from backend.tools.evaluate import load_cases, score_case, summarize
from backend.tools.mcp_client import McpConnections
from backend.tools.records import ServerStatus, ToolInfo


class ToolService:
    """Implements ``backend.api.contract.ToolsAPI``; ``turn_for``,
    ``router`` and ``close`` are for the other services and the backend."""

    def __init__(self, core: Core, models: ModelService) -> None:
        self._core = core
        self._models = models
        self._lock = threading.Lock()
        self._allowed: dict[int, set[str]] = {}
        self._builtins: list[Tool] | None = None
        self._router: ToolRouter | None = None
        self._mcp: McpConnections | None = None
        self._mcp_ready = threading.Event()

    # for other services (sync) ---------------------------------------------
    def router(self) -> ToolRouter:
        """The embedding router over the tools' descriptions (built once)."""
        with self._lock:
            if self._router is None:
                self._router = ToolRouter(self._core.kb.embedder)
            return self._router

    def turn_for(self, conv: Conversation, force: bool | None = None) -> ToolTurn | None:
        """What a turn of ``conv`` needs to call tools, or None when tools
        are off (``force`` overrides the conversation's switch)."""
        enabled = self._enabled(conv) if force is None else force
        if not enabled:
            return None
        runtime, model = self._models.resolve(conv.model)
        if not (runtime.supports_json_schema or runtime.native_tools(model)):
            # Free-form tool calls do not work on small models: a runtime
            # gets tools when it can constrain its output to the decision
            # schema or takes tools in the model's native format.
            return None
        tools = self._all_tools()
        if not tools:
            return None
        return ToolTurn(
            tools=tools,
            approvals=Approvals(),
            allowed=self._allowed.setdefault(conv.id, set()),
            store=self._core.stores.tool_calls,
            router=self.router(),
            max_steps=self._core.settings.tools.max_steps,
        )

    def all_tools(self) -> list[Tool]:
        """Every tool chat can offer now (built-ins, connected MCP tools), minus disabled."""
        return self._all_tools()

    def close(self) -> None:
        """Stop the MCP servers (sync)."""
        if self._mcp is not None:
            self._mcp.close()

    # internals ---------------------------------------------------------------
    def _notes_dir(self) -> Path:
        configured = self._core.settings.tools.notes_dir
        return Path(configured).expanduser() if configured else self._core.locations.home / "notes"

    def _builtin_tools(self) -> list[Tool]:
        with self._lock:
            if self._builtins is None:
                context = ToolContext.for_knowledge_base(self._core.kb, self._notes_dir())
                self._builtins = builtin_tools(context)
            return list(self._builtins)

    def _connections(self, wait: bool = False) -> McpConnections | None:
        """The MCP connections, started in a background thread on first use;
        ``wait``: until every server is connected or has failed."""
        servers = [s for s in self._core.settings.tools.mcp_servers if s.enabled]
        if not servers:
            return None
        with self._lock:
            if self._mcp is None:
                conn = McpConnections(servers, log_dir=self._core.locations.logs)
                self._mcp = conn

                def connect() -> None:
                    try:
                        conn.start()
                    except RuntimeError:  # closed before it started
                        pass
                    finally:
                        self._mcp_ready.set()

                threading.Thread(target=connect, name="mcp-connect", daemon=True).start()
            mcp = self._mcp
        if wait:
            self._mcp_ready.wait()
        return mcp

    def _all_tools(self) -> list[Tool]:
        tools = self._builtin_tools()
        mcp = self._connections()
        if mcp is not None:
            tools += mcp.tools()
        disabled = set(self._core.settings.tools.disabled)
        return [t for t in tools if t.name not in disabled]

    def _enabled(self, conv: Conversation) -> bool:
        if conv.use_tools is not None:
            return conv.use_tools
        return self._core.settings.tools.enabled

    # the API -----------------------------------------------------------------
    async def list_tools(self) -> list[ToolInfo]:
        def run() -> list[ToolInfo]:
            return [
                ToolInfo(t.name, t.description, t.side_effects, t.source or t.origin, t.parameters)
                for t in self._all_tools()
            ]

        return await self._core.run(run)

    async def mcp_status(self, wait: bool = False) -> list[ServerStatus]:
        def run() -> list[ServerStatus]:
            mcp = self._connections(wait)
            return mcp.status() if mcp is not None else []

        return await self._core.run(run)

    async def tools_enabled(self, conversation_id: int) -> bool:
        def run() -> bool:
            return self._enabled(self._core.stores.conversations.get(conversation_id))

        return await self._core.run(run)

    async def tools_supported(self, conversation_id: int | None = None) -> bool:
        def run() -> bool:
            conversations = self._core.stores.conversations
            name = conversations.get(conversation_id).model if conversation_id else None
            try:
                runtime, model = self._models.resolve(name)
            except (ValueError, LookupError, AssistantError):
                return False
            return runtime.supports_json_schema or runtime.native_tools(model)

        return await self._core.run(run)

    async def set_conversation_tools(self, conversation_id: int, use: bool | None) -> Conversation:
        return await self._core.run(
            lambda: self._core.stores.conversations.update(conversation_id, use_tools=use)
        )

    async def allowed_tools(self, conversation_id: int) -> set[str]:
        return set(self._allowed.get(conversation_id, set()))

    async def message_tool_calls(self, message_id: int) -> list[ToolCallFinished]:
        return await self._core.run(self._core.stores.tool_calls.for_message, message_id)

    async def eval_tools(
        self,
        path: str | Path,
        *,
        model: str | None = None,
        limit: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            cases = load_cases(path)[:limit] if limit else load_cases(path)
            runtime, info = self._models.resolve(model)
            tools = self._all_tools()
            router = self.router()
            scores = []
            rows = []
            for i, case in enumerate(cases, 1):
                if cancel is not None and cancel.is_set():
                    break
                decision = decide(
                    runtime, info, tools, [ChatMessage("user", case.q)], router=router
                )
                score = score_case(case, decision.call)
                scores.append(score)
                rows.append(
                    {
                        "q": case.q,
                        "expected": {"tool": case.tool, "arguments": case.arguments},
                        "got": (
                            {"tool": decision.call.name, "arguments": decision.call.arguments}
                            if decision.call
                            else {"tool": None}
                        ),
                        "offered": decision.offered,
                        "tool_ok": score.tool_ok,
                        "arguments_ok": score.arguments_ok,
                    }
                )
                if progress is not None:
                    progress(i, len(cases))
            return {**summarize(scores), "model": info.name, "cases": rows}

        return await self._core.run(run)
