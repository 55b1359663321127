"""What the API says about tools: a tool as the UI lists it, and an MCP
server's state. Plain records, light to import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Transport = Literal["stdio", "http"]


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
class ToolInfo:
    """A tool as the UI lists it."""

    name: str
    description: str
    side_effects: bool
    source: str
    parameters: dict[str, Any]
