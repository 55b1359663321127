"""``assistant mcp``: the indexed folders as an MCP server on stdio (see
``backend.server.mcp_kb``). An MCP client (Claude Code, Cursor, oterm)
starts it; stdout is the protocol's, logs go to stderr."""

from __future__ import annotations

import argparse
import logging
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    sub.add_parser(
        "mcp",
        help="serve your indexed folders to MCP clients over stdio (read-only: "
        "search_documents, read_document, list_files)",
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("local-assistant")
    except PackageNotFoundError:
        return ""


async def cmd_mcp(args: argparse.Namespace) -> int:
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    from backend.server.mcp_kb import serve_stdio

    await serve_stdio(version=_version())
    return 0
