"""Tool calling on the real thing: the bundled SmolLM2 through llama.cpp
(grammar-constrained decisions), the real embedding router, a real MCP
server over stdio, and the ``assistant`` command (run in this process by
``tests.cli_helpers.run_cli``: stdin is not a terminal, as in a pipe)."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend import Backend
from backend.common.config import GenerationSettings, McpServer, Settings, ToolsSettings
from backend.common.events import MessageSaved, TextDelta, ToolCallFinished
from backend.common.locations import Locations
from tests.cli_helpers import Result
from tests.cli_helpers import run_cli as run_in_process

from .test_tool_loop import drive

pytestmark = pytest.mark.real_model

SERVER = str(Path(__file__).with_name("mcp_server.py"))
EVAL_SET = Path(__file__).parents[1] / "data" / "tool_eval.jsonl"


def mcp_server(side_effects: bool = False) -> McpServer:
    return McpServer(
        name="test", command=sys.executable, args=[SERVER], timeout_s=20, side_effects=side_effects
    )


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    d = tmp_path / "docs"
    d.mkdir()
    (d / "garden.md").write_text(
        "# Garden\n\nThe tomatoes need watering every two days in July. "
        "Basil goes next to the tomatoes.\n"
    )
    (d / "car.md").write_text("# Car\n\nThe car needs an oil change at 90,000 km.\n")
    return d


@pytest.fixture
async def real(tmp_path: Path) -> AsyncIterator[Backend]:
    settings = Settings(
        generation=GenerationSettings(max_tokens=40, temperature=0.0),
        tools=ToolsSettings(mcp_servers=[mcp_server()]),
    )
    b = await Backend.open(locations=Locations(tmp_path / "home"), settings=settings)
    yield b
    await b.close()


async def ask(b: Backend, text: str) -> tuple[list[ToolCallFinished], str]:
    events = await drive(await b.chat.send(None, text))
    calls = [e for e in events if isinstance(e, ToolCallFinished)]
    return calls, "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_bundled_model_multiplies_with_the_calculator(real: Backend) -> None:
    calls, answer = await ask(real, "what is 1234*5678")
    assert [(c.name, c.arguments) for c in calls] == [("calculator", {"expression": "1234*5678"})]
    assert "7006652" in calls[0].output
    assert "7006652" in answer.replace(",", "")


async def test_bundled_model_answers_from_notes_through_search(real: Backend, docs: Path) -> None:
    # with documents on, the router sends this to retrieval
    # (tests/routing/test_routing_real.py); with them off, the search tool
    await real.documents.add_folder(str(docs))
    await real.documents.index()
    conv = await real.conversations.create_conversation()
    await real.documents.set_conversation_documents(conv.id, False)
    events = await drive(await real.chat.send(conv.id, "what do my notes say about tomatoes?"))
    calls = [e for e in events if isinstance(e, ToolCallFinished)]
    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert [c.name for c in calls] == ["search_documents"]
    assert "tomato" in calls[0].arguments["query"].lower()
    assert "watering every two days" in calls[0].output
    # the answer is written from the search results: they are in the prompt
    # the reply was generated from (the request log keeps it). The 135M
    # model's wording is not asserted: the results carry a temporary path
    # that differs from run to run, and that alone changes its greedy text.
    saved = next(e for e in events if isinstance(e, MessageSaved))
    assert saved.request_id is not None and answer.strip()
    detail = await real.telemetry.request_detail(saved.request_id)
    assert detail.messages is not None
    assert "watering every two days" in detail.messages[-1].content


async def test_bundled_model_calls_an_mcp_tool_from_chat(real: Backend) -> None:
    status = await real.tools.mcp_status(wait=True)
    assert [(s.name, s.connected) for s in status] == [("test", True)]
    calls, _ = await ask(real, "What's the weather in Paris?")
    assert [(c.name, c.arguments) for c in calls] == [("test.weather", {"city": "Paris"})]
    assert calls[0].output == "Weather in Paris: 18 degrees C, light rain (test data)"


def run_cli(home: Path, *args: str) -> Result:
    return run_in_process(*args, env={"ASSISTANT_HOME": str(home)})


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "clihome"
    h.mkdir()
    (h / "config.toml").write_text(
        "[generation]\nmax_tokens = 24\ntemperature = 0\n\n"
        f'[[tools.mcp_servers]]\nname = "test"\ncommand = {json.dumps(sys.executable)}\n'
        f"args = [{json.dumps(SERVER)}]\nside_effects = false\n"
    )
    return h


def test_cli_reports_tool_calls_in_json(home: Path) -> None:
    r = run_cli(home, "ask", "--tools", "--json", "what is 1234*5678")
    assert r.returncode == 0, r.stderr
    (call,) = json.loads(r.stdout)["tool_calls"]
    assert call["name"] == "calculator" and call["arguments"] == {"expression": "1234*5678"}
    assert "7006652" in call["result"] and call["error"] is None and call["ms"] >= 0

    r = run_cli(home, "ask", "--no-tools", "--json", "what is 1234*5678")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["tool_calls"] == []


def test_cli_refuses_side_effects_unless_told(home: Path) -> None:
    notes = home / "notes"
    r = run_cli(home, "ask", "--tools", "save a note saying buy milk on friday")
    assert r.returncode == 0, r.stderr
    assert "refused: save_note(" in r.stderr and "--yes" in r.stderr
    assert not notes.exists() or not list(notes.iterdir())

    r = run_cli(home, "ask", "--tools", "--yes", "--json", "save a note saying buy milk on friday")
    assert r.returncode == 0, r.stderr
    (call,) = json.loads(r.stdout)["tool_calls"]
    assert call["name"] == "save_note" and call["approved"] is True and call["side_effects"]
    (note,) = notes.iterdir()
    assert "buy milk on friday" in note.read_text().lower()


def test_cli_lists_tools_and_mcp_servers(home: Path) -> None:
    r = run_cli(home, "tools", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    names = {t["name"] for t in out["tools"]}
    assert {"calculator", "search_documents", "save_note", "test.weather"} <= names
    (server,) = out["mcp_servers"]
    assert server["connected"] and server["tools"] >= 5 and server["error"] is None


def test_cli_eval_tools_scores_the_bundled_model(home: Path, tmp_path: Path) -> None:
    cases = [json.loads(line) for line in EVAL_SET.read_text().splitlines() if line.strip()]
    assert len(cases) >= 30
    subset = tmp_path / "cases.jsonl"
    wanted = [
        next(c for c in cases if c.get("tool") == "calculator"),
        next(c for c in cases if c.get("tool") is None),
    ]
    subset.write_text("".join(json.dumps(c) + "\n" for c in wanted))
    r = run_cli(home, "eval", "tools", str(subset), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["n"] == 2 and len(out["cases"]) == 2
    assert 0.0 <= out["tool_accuracy"] <= 1.0
    assert set(out["per_tool"]) == {"calculator", "none"}
