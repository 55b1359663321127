"""An MCP server's tools and results in our terms: the tools a server
lists (``ListedTool``, named and schema-cleaned by ``mcp_schema``) and a
call's result as a ``ToolOutput``.

The SDK (``mcp``) is imported inside the functions, on the MCP loop's
thread, as in ``mcp_client``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backend.tools.base import ToolOutput
from backend.tools.mcp_schema import grammar_safe_schema, unique_tool_names

if TYPE_CHECKING:
    from mcp import ClientSession
    from mcp.types import CallToolResult, ContentBlock

MAX_TOOL_PAGES = 100


@dataclass(frozen=True)
class ListedTool:
    """One tool of a server: our name, the server's name, what the model sees."""

    name: str
    mcp_name: str
    description: str
    parameters: dict[str, Any]


def error_message(err: BaseException) -> str:
    """An error in one line: an MCP error's own message, else ``Type: text``."""
    from mcp import MCPError

    if isinstance(err, MCPError):
        return err.message
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


async def list_tools(session: ClientSession) -> list[Any]:
    """Every tool the server lists, page by page (at most ``MAX_TOOL_PAGES``)."""
    from mcp.types import PaginatedRequestParams

    tools: list[Any] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        params = PaginatedRequestParams(cursor=cursor) if cursor else None
        result = await session.list_tools(params=params)
        tools.extend(result.tools)
        cursor = result.next_cursor
        if not cursor:
            break
    return tools


def describe_tools(tools: list[Any]) -> dict[str, ListedTool]:
    """Our view of the server's tools (``mcp.types.Tool``), keyed by our name."""
    names = unique_tool_names([t.name for t in tools])
    listed = {}
    for name, tool in zip(names, tools, strict=True):
        description = (tool.description or tool.title or "").strip()
        listed[name] = ListedTool(
            name=name,
            mcp_name=tool.name,
            description=description or f"The MCP tool {tool.name}.",
            parameters=grammar_safe_schema(tool.input_schema),
        )
    return listed


def tool_output(result: CallToolResult) -> ToolOutput:
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
