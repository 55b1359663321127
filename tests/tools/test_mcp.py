"""MCP servers as tool sources, against a real server (``mcp_server.py``)
over stdio and streamable HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from backend.common.config import McpServer
from backend.tools.base import Tool
from backend.tools.mcp_client import McpConnections
from backend.tools.mcp_schema import ANY_VALUE, grammar_safe_schema, tool_name, unique_tool_names

SERVER = str(Path(__file__).with_name("mcp_server.py"))


def stdio(name: str, timeout_s: float = 10.0, **kw: Any) -> McpServer:
    return McpServer(name=name, command=sys.executable, args=[SERVER], timeout_s=timeout_s, **kw)


def by_name(tools: list[Tool]) -> dict[str, Tool]:
    return {t.name: t for t in tools}


def child_pids() -> set[int]:
    """Our descendants, zombies included (a zombie is still a child)."""
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.fixture(scope="module")
def mcp() -> Iterator[McpConnections]:
    servers = [
        stdio("test", side_effects=False),
        stdio("quick", timeout_s=1.0),
        McpServer(name="nope", command="no-such-mcp-server-xyz"),
        McpServer(
            name="dies",
            command=sys.executable,
            args=["-c", "import sys; sys.stderr.write('bad config\\n'); sys.exit(1)"],
        ),
        McpServer(name="off", command="no-such-mcp-server-xyz", enabled=False),
    ]
    # Servers start slowly on a busy CI machine; "quick" has a 1 s call timeout.
    with McpConnections(servers, connect_timeout_s=20) as connections:
        yield connections


def test_lists_the_tools_with_the_server_prefix(mcp: McpConnections) -> None:
    tools = by_name(mcp.tools())
    assert {n for n in tools if n.startswith("test.")} == {
        "test.add",
        "test.echo",
        "test.weather",
        "test.slow",
        "test.fail",
        "test.crash",
        "test.picture",
        "test.distance",
        "test.get_time",  # the server calls it "Get-Time"
    }
    assert not [n for n in tools if n.split(".")[0] in {"nope", "dies", "off"}]
    add = tools["test.add"]
    assert add.description == "Add two integers."
    assert add.parameters["type"] == "object"
    assert add.parameters["properties"]["a"]["type"] == "integer"
    assert add.parameters["required"] == ["a", "b"]
    assert (add.origin, add.source, add.side_effects, add.timeout_s) == ("mcp", "test", False, 10.0)
    quick = tools["quick.add"]
    assert (quick.side_effects, quick.timeout_s) == (True, 1.0)  # the default asks first


def test_status_says_which_servers_are_up_and_why_not(mcp: McpConnections) -> None:
    status = {s.name: s for s in mcp.status()}
    assert list(status) == ["test", "quick", "nope", "dies", "off"]
    assert status["test"].connected and status["test"].tools == 9
    assert status["test"].transport == "stdio" and status["test"].error is None
    assert not status["nope"].connected
    assert status["nope"].error == "cannot start 'no-such-mcp-server-xyz': command not found"
    assert not status["dies"].connected
    assert status["dies"].error is not None and "bad config" in status["dies"].error
    assert not status["off"].enabled and not status["off"].connected
    assert status["off"].error is None


def test_calls_a_tool(mcp: McpConnections) -> None:
    out = by_name(mcp.tools())["test.add"].run({"a": 2, "b": 3})
    assert out.ok and out.text == "5"
    assert out.data == {"result": 5}


def test_a_sanitised_name_calls_the_original(mcp: McpConnections) -> None:
    """``Get-Time`` is offered as ``test.get_time`` and the call reaches the
    server's own ``Get-Time``: its answer is the server's clock."""
    tools = by_name(mcp.tools())
    assert "test.Get-Time" not in tools
    out = tools["test.get_time"].run({})
    assert out.ok and abs(int(out.text) - time.time()) < 30


def test_an_error_result_is_an_error_output(mcp: McpConnections) -> None:
    out = by_name(mcp.tools())["test.fail"].run({"message": "no such city"})
    assert not out.ok
    assert out.error is not None and "no such city" in out.error


def test_non_text_content_is_described(mcp: McpConnections) -> None:
    out = by_name(mcp.tools())["test.picture"].run({})
    assert out.ok and out.text == "[image: image/png]"


def test_refs_are_inlined_and_the_call_works(mcp: McpConnections) -> None:
    distance = by_name(mcp.tools())["test.distance"]
    assert "$ref" not in json.dumps(distance.parameters)
    assert "$defs" not in distance.parameters
    assert distance.parameters["properties"]["a"]["properties"]["x"]["type"] == "number"
    out = distance.run({"a": {"x": 0, "y": 0}, "b": {"x": 3, "y": 4}})
    assert out.ok and out.text == "5.0"


def test_a_timeout_is_an_error_and_the_server_still_works(mcp: McpConnections) -> None:
    tools = by_name(mcp.tools())
    start = time.monotonic()
    out = tools["quick.slow"].run({"seconds": 5})
    assert time.monotonic() - start < 3
    assert out.error == "quick.slow timed out after 1 s"
    assert tools["quick.add"].run({"a": 1, "b": 2}).text == "3"
    assert tools["quick.slow"].run({"seconds": 0.01}).text == "done"


def test_calls_from_many_threads_at_once(mcp: McpConnections) -> None:
    add = by_name(mcp.tools())["test.add"]
    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda i: add.run({"a": i, "b": 1}), range(16)))
    assert [o.text for o in outs] == [str(i + 1) for i in range(16)]


def test_a_dead_server_is_down_then_restarted_and_close_leaves_no_process(
    tmp_path: Path,
) -> None:
    before = child_pids()
    servers = [
        stdio("test", timeout_s=5.0),
        # Never answers and ignores its stdin closing: close() must kill it.
        McpServer(name="hang", command="sleep", args=["60"], timeout_s=0.5),
        stdio("test"),  # same name as the first: refused
    ]
    mcp = McpConnections(servers, log_dir=tmp_path)
    mcp.start()
    status = mcp.status()
    assert status[1].error == "no answer within 0.5 s"
    assert status[2].error == "another MCP server has the same name"
    started = child_pids() - before
    assert started

    tools = by_name(mcp.tools())
    out = tools["test.crash"].run({})
    assert out.error is not None
    assert out.error.startswith("MCP server 'test' is down: the server closed the connection")
    assert "crashing on purpose" in out.error  # its stderr's last line
    assert "crashing on purpose" in (tmp_path / "mcp-test.log").read_text()
    assert not mcp.status()[0].connected
    # The next call starts it again.
    assert tools["test.add"].run({"a": 2, "b": 2}).text == "4"
    assert mcp.status()[0].connected

    mcp.close()
    mcp.close()
    assert not (child_pids() - before)
    assert tools["test.add"].run({"a": 1, "b": 1}).error == "test.add: MCP connections are closed"
    with pytest.raises(RuntimeError):
        mcp.start()


def test_close_without_start_and_no_servers() -> None:
    McpConnections([stdio("test")]).close()
    empty = McpConnections([])
    empty.start()
    assert empty.tools() == [] and empty.status() == []
    empty.close()


# --- streamable HTTP -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, SERVER, "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the HTTP MCP server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


def test_streamable_http(http_url: str) -> None:
    servers = [
        McpServer(name="web", url=http_url, headers={"X-Test": "1"}, timeout_s=5),
        McpServer(name="gone", url=http_url.replace("/mcp", "/nothing"), timeout_s=5),
    ]
    with McpConnections(servers) as mcp:
        web, gone = mcp.status()
        assert web.connected and web.transport == "http" and web.target == http_url
        assert web.tools == 9
        assert not gone.connected and gone.error is not None and "Not Found" in gone.error
        tools = by_name(mcp.tools())
        assert tools["web.add"].parameters["properties"]["b"]["type"] == "integer"
        assert tools["web.add"].run({"a": 2, "b": 3}).text == "5"
        assert tools["web.echo"].run({"text": "héllo"}).text == "héllo"
        assert "boom" in (tools["web.fail"].run({}).error or "")


def test_an_unreachable_url_is_down() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    with McpConnections([McpServer(name="web", url=url, timeout_s=5)]) as mcp:
        (web,) = mcp.status()
        assert not web.connected
        assert web.error is not None and web.error.startswith(url)
        assert mcp.tools() == []


# --- names and schemas -----------------------------------------------------


def test_tool_names() -> None:
    assert tool_name("Get-Time") == "get_time"
    assert tool_name("getWeather") == "get_weather"
    assert tool_name("files/read file") == "files_read_file"
    assert tool_name("__x__") == "x"
    assert tool_name("!!!") == "tool"
    assert unique_tool_names(["a-b", "a_b", "A B"]) == ["a_b", "a_b_2", "a_b_3"]


NASTY: list[Any] = [
    None,
    {},
    {"properties": {"q": {"type": "string"}}},
    {
        "type": "object",
        "properties": {
            "any": {"title": "Any"},
            "flag": True,
            "never": False,
            "id": {"type": "string", "pattern": "^[a-z]+(?:_[a-z]+)*$"},
            "code": {"type": "string", "pattern": "^\\d{3}$"},
            "free": {"type": "string", "pattern": "abc"},
            "weird": {"type": "mystery"},
            "maybe": {"type": ["string", "null", "bogus"]},
            "one": {"oneOf": []},
            "neg": {"not": {"type": "string"}},
            "tree": {"$ref": "#/$defs/Node"},
            "remote": {"$ref": "https://example.com/schema.json"},
            "list": {"type": "array", "items": True},
            "map": {"type": "object", "additionalProperties": {"$ref": "#/$defs/Leaf"}},
            "doc": {"$ref": "#/$defs/Leaf", "description": "beside the ref"},
            "pair": {"type": "array", "items": [{"type": "string"}, {"title": "Second"}]},
            "loose": {"additionalProperties": True},
        },
        "required": ["id", 3],
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
            },
            "Leaf": {"type": "integer"},
        },
        "$schema": "https://json-schema.org/draft/2020-12/schema",
    },
]


@pytest.mark.parametrize("schema", NASTY)
def test_schemas_become_llama_cpp_grammars(schema: Any) -> None:
    grammar = pytest.importorskip("llama_cpp.llama_grammar")
    safe = grammar_safe_schema(schema)
    assert safe["type"] == "object"
    assert "$ref" not in json.dumps(safe)
    grammar.LlamaGrammar.from_json_schema(json.dumps(safe), verbose=False)
    # Embedded in a larger schema (as the calling loop does) it still converts.
    embedded = {"type": "object", "properties": {"arguments": safe}}
    grammar.LlamaGrammar.from_json_schema(json.dumps(embedded), verbose=False)


def test_schema_rewrites_keep_what_is_given() -> None:
    safe = grammar_safe_schema(NASTY[3])
    props = safe["properties"]
    assert props["any"] == {"title": "Any", **ANY_VALUE}
    assert props["flag"] == ANY_VALUE and "never" not in props
    assert "pattern" not in props["id"] and props["code"]["pattern"] == "^\\d{3}$"
    assert "pattern" not in props["free"]
    assert props["weird"] == ANY_VALUE and props["maybe"]["type"] == ["string", "null"]
    # Inlined once; the recursive ref inside becomes "any value".
    assert props["tree"]["properties"]["children"]["items"] == ANY_VALUE
    assert props["remote"] == ANY_VALUE
    assert props["map"]["additionalProperties"] == {"type": "integer"}
    assert props["doc"] == {"type": "integer", "description": "beside the ref"}
    assert props["pair"]["items"] == [{"type": "string"}, {"title": "Second", **ANY_VALUE}]
    assert props["loose"] == {"additionalProperties": True, **ANY_VALUE}
    assert safe["required"] == ["id"]
    assert "$defs" not in safe and "$schema" not in safe
    assert NASTY[3]["properties"]["tree"] == {"$ref": "#/$defs/Node"}  # input untouched
