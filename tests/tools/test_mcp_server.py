"""``assistant mcp``: the knowledge base served over stdio, driven by the
official ``mcp`` client SDK (``stdio_client`` + ``ClientSession``) as
Claude Code or Cursor would, on a data folder with a real index (MiniLM):
the three read-only tools are listed, search and read work, paths outside
the watched folders are refused, and stdout carries nothing but JSON-RPC."""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from backend import Backend
from backend.common.config import Settings
from backend.common.locations import Locations
from backend.knowledge.embedder import Embedder

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "assistant.cli", "mcp"]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, minilm: Embedder) -> tuple[Path, Path]:
    """(data folder, watched folder): two notes indexed, plus what must
    stay out of reach: a file beside the folder, a symlink to it, a hidden
    folder."""
    base = tmp_path_factory.mktemp("mcp")
    docs = base / "docs"
    (docs / "bread").mkdir(parents=True)
    (docs / "bread" / "sourdough.md").write_text(
        "# Sourdough\n\nFeed the starter once a day with equal weights of flour and water.\n"
        "Keep it in the fridge between bakes.\n",
        encoding="utf-8",
    )
    (docs / "travel.md").write_text("# Lyon\n\nTake the TGV from Paris; it takes two hours.\n")
    (base / "secret.txt").write_text("the password is hunter2\n")
    (docs / "escape.txt").symlink_to(base / "secret.txt")
    (docs / ".private").mkdir()
    (docs / ".private" / "keys.txt").write_text("not for tools\n")
    home = base / "home"

    async def build() -> None:
        b = await Backend.open(locations=Locations(home), settings=Settings(), embedder=minilm)
        try:
            await b.documents.add_folder(str(docs))
            summary = await b.documents.index()
            assert summary.indexed >= 2, summary
        finally:
            await b.close()

    asyncio.run(build())
    return home, docs


def env(home: Path) -> dict[str, str]:
    return {"ASSISTANT_HOME": str(home), "PYTHONPATH": str(ROOT)}


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


async def test_client_lists_searches_reads_and_is_confined(
    indexed: tuple[Path, Path], tmp_path: Path
) -> None:
    home, docs = indexed
    params = StdioServerParameters(command=COMMAND[0], args=COMMAND[1:], env=env(home))
    with (tmp_path / "stderr.log").open("w+") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            init = await session.initialize()
            assert init.server_info.name == "local-assistant-documents"
            tools = (await session.list_tools()).tools
            assert [t.name for t in tools] == [
                "search_documents",
                "read_document",
                "list_files",
            ]
            assert all(t.annotations and t.annotations.read_only_hint for t in tools)
            assert tools[0].input_schema["required"] == ["query"]

            found = await session.call_tool(
                "search_documents", {"query": "how often to feed a sourdough starter", "k": 2}
            )
            assert not found.is_error, text(found)
            first = text(found).split("[2]")[0]
            assert "sourdough.md" in first and "Feed the starter" in first

            read = await session.call_tool(
                "read_document", {"path": "bread/sourdough.md", "start_line": 3, "end_line": 3}
            )
            assert not read.is_error, text(read)
            assert text(read).endswith("Feed the starter once a day with equal weights"
                                       " of flour and water.")  # fmt: skip
            listed = await session.call_tool("list_files", {})
            assert "bread/sourdough.md" in text(listed) and "travel.md" in text(listed)
            assert "keys.txt" not in text(listed)

            refused = {
                path: await session.call_tool("read_document", {"path": path})
                for path in (
                    str(docs.parent / "secret.txt"),
                    "../secret.txt",
                    "escape.txt",  # a symlink out of the folder
                    ".private/keys.txt",
                    "/etc/passwd",
                )
            }
            for path, result in refused.items():
                assert result.is_error, path
                assert "hunter2" not in text(result)
            assert "outside the folders you added" in text(refused["../secret.txt"])
            assert "hidden files and folders" in text(refused[".private/keys.txt"])

            bad = await session.call_tool("search_documents", {"query": "x", "k": 50})
            assert bad.is_error and "k" in text(bad)
            unknown = await session.call_tool("save_note", {"title": "t", "text": "x"})
            assert unknown.is_error and "unknown tool" in text(unknown)
        errlog.seek(0)
        assert "Traceback" not in errlog.read()


def read_line(stream: IO[bytes], deadline: float) -> bytes:
    fd = stream.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            return stream.readline()
    raise AssertionError("no answer from the MCP server in time")


def test_stdout_carries_only_the_protocol(indexed: tuple[Path, Path]) -> None:
    home, _ = indexed
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "search_documents", "arguments": {"query": "TGV to Lyon"}},
        },
    ]
    proc = subprocess.Popen(
        COMMAND,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env(home)},
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
        proc.stdin.flush()
        deadline = time.monotonic() + 120
        lines = [read_line(proc.stdout, deadline) for _ in range(2)]
        rest, err = proc.communicate(timeout=60)  # closes stdin: the server ends
    finally:
        if proc.poll() is None:
            proc.kill()
    answers = [json.loads(line) for line in [*lines, *rest.splitlines()] if line.strip()]
    assert [a.get("id") for a in answers] == [1, 2]  # every line is JSON-RPC, nothing else
    assert "travel.md" in answers[1]["result"]["content"][0]["text"]
    assert proc.returncode == 0, err.decode()
