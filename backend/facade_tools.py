"""The tools half of the ``Backend`` facade: which tools a conversation may
call, MCP servers, approvals, the calls kept with each reply, and the
tool-decision evaluation. ``Backend`` inherits these.

MCP servers are connected in a background thread on first need (start-up
never waits for a slow or dead server); until they are up, chat offers the
built-in tools only. A conversation's "allow for this conversation"
answers live in memory for the app's lifetime: a restart asks again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from backend.chat.tool_loop import Approvals, ToolTurn
from backend.common.config import Settings
from backend.common.errors import AssistantError
from backend.common.events import ToolCallFinished
from backend.common.locations import Locations
from backend.knowledge.service import KnowledgeBase
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import ChatMessage, Runtime
from backend.store.conversations import ConversationStore
from backend.store.records import Conversation
from backend.store.tool_calls import ToolCallStore
from backend.tools.base import Tool
from backend.tools.builtin import ToolContext, builtin_tools
from backend.tools.calling import ToolRouter, decide
from backend.tools.evaluate import load_cases, score_case, summarize
from backend.tools.mcp_client import McpConnections
from backend.tools.records import ServerStatus, ToolInfo

T = TypeVar("T")


class ToolMethods:
    """Mixed into ``Backend``; relies on its stores, settings and runtimes."""

    kb: KnowledgeBase
    locations: Locations
    conversations: ConversationStore
    _tool_lock = threading.Lock()

    if TYPE_CHECKING:  # provided by Backend

        @property
        def settings(self) -> Settings: ...

        async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

        def _resolve_model(self, name: str | None) -> tuple[Runtime, ModelInfo]: ...

    def _tools_state(self) -> dict[str, Any]:
        state: dict[str, Any] | None = getattr(self, "_tools_state_", None)
        if state is None:
            state = {"allowed": {}, "mcp": None, "router": None, "builtins": None}
            self._tools_state_ = state
        return state

    def _tool_calls_store(self) -> ToolCallStore:
        return ToolCallStore(self.kb.store.db)

    def _notes_dir(self) -> Path:
        configured = self.settings.tools.notes_dir
        return Path(configured).expanduser() if configured else self.locations.home / "notes"

    def _builtin_tools(self) -> list[Tool]:
        state = self._tools_state()
        if state["builtins"] is None:
            context = ToolContext.for_knowledge_base(self.kb, self._notes_dir())
            state["builtins"] = builtin_tools(context)
        return list(state["builtins"])

    def _mcp(self, wait: bool = False) -> McpConnections | None:
        """The MCP connections, started in a background thread on first use;
        ``wait``: until every server is connected or has failed."""
        servers = [s for s in self.settings.tools.mcp_servers if s.enabled]
        if not servers:
            return None
        state = self._tools_state()
        with self._tool_lock:
            if state["mcp"] is None:
                conn = McpConnections(servers, log_dir=self.locations.logs)
                ready = threading.Event()

                def connect() -> None:
                    try:
                        conn.start()
                    except RuntimeError:  # closed before it started
                        pass
                    finally:
                        ready.set()

                state["mcp"], state["mcp_ready"] = conn, ready
                threading.Thread(target=connect, name="mcp-connect", daemon=True).start()
        if wait:
            state["mcp_ready"].wait()
        mcp: McpConnections = state["mcp"]
        return mcp

    def _all_tools_sync(self) -> list[Tool]:
        tools = self._builtin_tools()
        mcp = self._mcp()
        if mcp is not None:
            tools += mcp.tools()
        disabled = set(self.settings.tools.disabled)
        return [t for t in tools if t.name not in disabled]

    def _router(self) -> ToolRouter:
        state = self._tools_state()
        if state["router"] is None:
            state["router"] = ToolRouter(self.kb.embedder)
        router: ToolRouter = state["router"]
        return router

    def _tools_enabled_sync(self, conv: Conversation) -> bool:
        if conv.use_tools is not None:
            return conv.use_tools
        return self.settings.tools.enabled

    def _tool_turn(self, conv: Conversation, force: bool | None = None) -> ToolTurn | None:
        """What a turn of ``conv`` needs to call tools, or None when tools
        are off (``force`` overrides the conversation's switch)."""
        enabled = self._tools_enabled_sync(conv) if force is None else force
        if not enabled:
            return None
        runtime, model = self._resolve_model(conv.model)
        if not (runtime.supports_json_schema or runtime.native_tools(model)):
            # Free-form tool calls do not work on small models: a runtime
            # gets tools when it can constrain its output to the decision
            # schema or takes tools in the model's native format.
            return None
        tools = self._all_tools_sync()
        if not tools:
            return None
        allowed: set[str] = self._tools_state()["allowed"].setdefault(conv.id, set())
        return ToolTurn(
            tools=tools,
            approvals=Approvals(),
            allowed=allowed,
            store=self._tool_calls_store(),
            router=self._router(),
            max_steps=self.settings.tools.max_steps,
        )

    def _close_tools(self) -> None:
        mcp = self._tools_state().get("mcp")
        if mcp is not None:
            mcp.close()

    # -- public API -------------------------------------------------------
    async def tools(self) -> list[ToolInfo]:
        """Every tool chat can offer now (built-ins, then connected MCP
        servers' tools), minus ``[tools] disabled``."""

        def run() -> list[ToolInfo]:
            return [
                ToolInfo(t.name, t.description, t.side_effects, t.source or t.origin, t.parameters)
                for t in self._all_tools_sync()
            ]

        return await self._run(run)

    async def mcp_status(self, wait: bool = False) -> list[ServerStatus]:
        """Each configured MCP server: connected or why not, tool count.
        Connecting starts on first need, in the background; ``wait`` waits
        until every server has answered or failed (at most its timeout):
        the CLI does, so a one-shot question can use MCP tools."""

        def run() -> list[ServerStatus]:
            mcp = self._mcp(wait)
            return mcp.status() if mcp is not None else []

        return await self._run(run)

    async def tools_enabled(self, conversation_id: int) -> bool:
        def run() -> bool:
            return self._tools_enabled_sync(self.conversations.get(conversation_id))

        return await self._run(run)

    async def tools_supported(self, conversation_id: int | None = None) -> bool:
        """Whether the conversation's model (default: the default model)
        can call tools: its runtime must constrain output to a JSON schema
        or take tools natively. An unknown model counts as no."""

        def run() -> bool:
            name = self.conversations.get(conversation_id).model if conversation_id else None
            try:
                runtime, model = self._resolve_model(name)
            except (ValueError, LookupError, AssistantError):
                return False
            return runtime.supports_json_schema or runtime.native_tools(model)

        return await self._run(run)

    async def set_conversation_tools(self, conversation_id: int, use: bool | None) -> Conversation:
        """Tools on (True), off (False) or as ``[tools] enabled`` (None)."""
        return await self._run(self.conversations.update, conversation_id, use_tools=use)

    async def allowed_tools(self, conversation_id: int) -> set[str]:
        """Side-effect tools allowed for the rest of this conversation."""
        return set(self._tools_state()["allowed"].get(conversation_id, set()))

    async def message_tool_calls(self, message_id: int) -> list[ToolCallFinished]:
        """The tool calls made while writing a reply, in order."""
        return await self._run(self._tool_calls_store().for_message, message_id)

    async def eval_tools(
        self,
        path: str | Path,
        *,
        model: str | None = None,
        limit: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """Tool-selection and argument accuracy of the model's decisions on
        a question set (``backend.tools.evaluate``); nothing is run.

        Raises:
            CaseError: a line of the file is malformed.
            OSError: the file cannot be read.
        """

        def run() -> dict[str, Any]:
            cases = load_cases(path)[:limit] if limit else load_cases(path)
            runtime, info = self._resolve_model(model)
            tools = self._all_tools_sync()
            router = self._router()
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

        return await self._run(run)
