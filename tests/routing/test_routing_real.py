"""Routing on the real thing: MiniLM and the bundled SmolLM2 through
llama.cpp. The three plain questions of the issue get documents or none
and no tool call; an explicit "save a note that ..." still goes to
``save_note`` and asks first; ``ask --json`` reports the route and
``eval routing`` scores a small file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend import Backend
from backend.common.config import GenerationSettings, Settings
from backend.common.events import SourceRouted, ToolCallFinished, ToolCallProposed
from backend.common.locations import Locations
from tests.cli_helpers import run_cli
from tests.tools.test_tool_loop import drive

pytestmark = pytest.mark.real_model


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    d = tmp_path / "python docs"
    d.mkdir()
    (d / "functools.md").write_text(
        "# functools\n\n`functools.lru_cache(maxsize=128)` is a decorator that wraps a "
        "function with a memoizing callable that saves up to maxsize most recent calls.\n"
    )
    (d / "finance.md").write_text(
        "# Finance handbook\n\nExpense reports are due on the 5th of each month.\n\n"
        "# Roadmap\n\nThe launch date is 14 March.\n"
    )
    return d


@pytest.fixture
async def real(tmp_path: Path, docs: Path) -> AsyncIterator[Backend]:
    settings = Settings(generation=GenerationSettings(max_tokens=16, temperature=0.0))
    b = await Backend.open(locations=Locations(tmp_path / "home"), settings=settings)
    await b.documents.add_folder(str(docs))
    await b.documents.index()
    yield b
    await b.close()


@pytest.mark.parametrize(
    "question",
    [
        "When are expense reports due?",
        "When is the launch date?",
        "How do I make an LRU cache for a function in Python?",
    ],
)
async def test_plain_questions_call_no_tool(real: Backend, question: str) -> None:
    events = await drive(await real.chat.send(None, question))
    (routed,) = [e for e in events if isinstance(e, SourceRouted)]
    assert routed.source in ("documents", "none"), routed
    assert routed.tools == ()
    assert not [e for e in events if isinstance(e, ToolCallProposed | ToolCallFinished)]
    if routed.source == "documents":
        assert routed.chip == "source: documents (python docs)"


async def test_an_explicit_note_still_asks_to_save_it(real: Backend) -> None:
    events = await drive(
        await real.chat.send(None, "save a note that the dentist moved to friday"),
        lambda e: "once",
    )
    (routed,) = [e for e in events if isinstance(e, SourceRouted)]
    assert (routed.source, routed.tools) == ("tool", ("save_note",))
    (proposed,) = [e for e in events if isinstance(e, ToolCallProposed)]
    assert proposed.name == "save_note" and proposed.needs_approval
    (done,) = [e for e in events if isinstance(e, ToolCallFinished)]
    assert done.approved is True and done.error is None


def test_cli_reports_the_route_and_evaluates_routing(tmp_path: Path) -> None:
    env = {"ASSISTANT_HOME": str(tmp_path / "clihome")}
    r = run_cli("ask", "--json", "--no-docs", "Hello there!", env=env)
    assert r.returncode == 0, r.stderr
    route = json.loads(r.stdout)["route"]
    assert route["source"] == "none" and route["forced"] is False and route["reason"]

    r = run_cli("ask", "--json", "@tool:calculator what is 6*7", env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["route"]["forced"] and out["route"]["tools"] == ["calculator"]
    assert [c["name"] for c in out["tool_calls"]] == ["calculator"]

    cases = tmp_path / "r.jsonl"
    cases.write_text(
        '{"q": "What time is it in Oslo?", "source": "tool", "tool": "current_time"}\n'
        '{"q": "When is the launch date?", "source": "documents"}\n'
        '{"q": "Save a note that the boiler was serviced", "source": "tool"}\n'
        '{"q": "What did we discuss about the garden?", "source": "chats"}\n'
        '{"q": "Write a haiku about rain.", "source": "none"}\n'
    )
    r = run_cli("eval", "routing", str(cases), "--json", env=env)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["n"] == 5 and result["plain"] == 2
    assert result["plain_any_tool"] == 0 and result["plain_side_effect"] == 0
    assert result["confusion"]["tool"]["tool"] == 2 and result["accuracy"] >= 0.8
    r = run_cli("eval", "routing", str(cases), "--no-model", env=env)
    assert r.returncode == 0, r.stderr
    assert "5 questions (no model call)" in r.stdout and "expected \\ got" in r.stdout
