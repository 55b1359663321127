"""A small real MCP server for the MCP client tests (the SDK's ``MCPServer``,
formerly FastMCP).

    python mcp_server.py               # stdio
    python mcp_server.py --http PORT   # streamable HTTP on 127.0.0.1:PORT/mcp
"""

from __future__ import annotations

import os
import sys
import time

import anyio
from mcp.server.mcpserver import Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

server = MCPServer("test-server", log_level="WARNING")


class Point(BaseModel):
    x: float
    y: float


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def weather(city: str) -> str:
    """Current weather report for a city."""
    return f"Weather in {city}: 18 degrees C, light rain (test data)"


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep for a while, then answer."""
    await anyio.sleep(seconds)
    return "done"


@server.tool()
def fail(message: str = "boom") -> str:
    """Always fails, with ``message``."""
    raise ToolError(message)


@server.tool()
def crash() -> str:
    """Kills the server process in the middle of the call."""
    sys.stderr.write("crashing on purpose\n")
    sys.stderr.flush()
    os._exit(3)


@server.tool()
def picture() -> Image:
    """Return a tiny image."""
    return Image(data=b"\x89PNG\r\n\x1a\n", format="png")


@server.tool()
def distance(a: Point, b: Point) -> float:
    """Distance between two points (its schema uses $defs and $ref)."""
    return float(((a.x - b.x) ** 2 + (a.y - b.y) ** 2) ** 0.5)


@server.tool(name="Get-Time")
def get_time() -> str:
    """A name that must be sanitised."""
    return str(int(time.time()))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
