"""Contract: built-in and MCP tools, and confirmation of side effects."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from backend.common.events import ToolCallFinished
from backend.store.records import (
    Conversation,
)
from backend.tools.records import ServerStatus, ToolInfo


class ToolsAPI(Protocol):
    """The tools chat can call (built-ins and MCP servers' tools)."""

    async def list_tools(self) -> list[ToolInfo]:
        """Every tool chat can offer now, minus ``[tools] disabled``."""
        ...

    async def mcp_status(self, wait: bool = False) -> list[ServerStatus]:
        """Each configured MCP server: connected or why not, tool count.
        ``wait``: until every server has answered or failed."""
        ...

    async def tools_enabled(self, conversation_id: int) -> bool: ...

    async def tools_supported(self, conversation_id: int | None = None) -> bool:
        """Whether the conversation's model (default: the default model) can
        call tools: its runtime constrains output to a JSON schema or takes
        tools natively. An unknown model counts as no."""
        ...

    async def set_conversation_tools(self, conversation_id: int, use: bool | None) -> Conversation:
        """Tools on (True), off (False) or as ``[tools] enabled`` (None)."""
        ...

    async def allowed_tools(self, conversation_id: int) -> set[str]:
        """Side-effect tools allowed for the rest of this conversation."""
        ...

    async def message_tool_calls(self, message_id: int) -> list[ToolCallFinished]:
        """The tool calls made while writing a reply, in order."""
        ...

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
        ...
