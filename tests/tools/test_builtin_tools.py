"""The built-in tools on real files in tmp_path, run the way the calling loop
runs them (``call_tool``: schema check, worker thread, timeout): the set,
``calculator``, ``current_time`` and ``save_note``. ``read_document`` and
``list_files`` are in ``test_builtin_files``, ``search_documents`` in
``test_builtin_search``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from backend.tools.builtin import BUILTIN_NAMES, ToolContext, builtin_tools
from backend.tools.builtin.notes import slug
from backend.tools.registry import ToolRegistry
from backend.tools.runner import argument_errors
from tests.tools.builtin_helpers import FIXED_NOW, error, ok, run

# -- the set -----------------------------------------------------------------------------


def test_the_builtin_set(registry: ToolRegistry) -> None:
    tools = registry.tools()
    assert [t.name for t in tools] == list(BUILTIN_NAMES)
    assert [t.name for t in tools if t.side_effects] == ["save_note"]
    for tool in tools:
        assert 10 < len(tool.description) < 200, tool.name
        assert tool.examples, f"{tool.name} has no worked example"
        for example in tool.examples:
            assert argument_errors(tool, example.arguments) is None


def test_without_search_there_is_no_search_tool(tmp_path: Path) -> None:
    tools = builtin_tools(ToolContext(roots=list, notes_dir=tmp_path))
    assert [t.name for t in tools] == list(BUILTIN_NAMES[1:])


def test_every_schema_compiles_to_a_grammar(registry: ToolRegistry) -> None:
    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    for tool in registry.tools():
        gbnf = json_schema_to_gbnf(json.dumps(tool.parameters))
        LlamaGrammar.from_string(gbnf, verbose=False)  # raises if llama.cpp cannot parse it
        for name in tool.parameters.get("required", []):  # every required argument is in it
            assert f'"\\"{name}\\""' in gbnf, (tool.name, name)


# -- calculator, current_time ---------------------------------------------------------------------


def test_calculator_tool(registry: ToolRegistry) -> None:
    assert ok(run(registry, "calculator", expression="1234*5678")) == "1234*5678 = 7006652"
    assert ok(run(registry, "calculator", expression=" sqrt(16) ")) == "sqrt(16) = 4"
    assert error(run(registry, "calculator", expression="1/0")) == "division by zero"
    assert error(run(registry, "calculator", expression="9**9**9")) == "the result is too large"


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("UTC", "Monday 1 July 2024, 12:00:00 UTC (UTC+00:00), time zone UTC"),
        ("Europe/Paris", "Monday 1 July 2024, 14:00:00 CEST (UTC+02:00), time zone Europe/Paris"),
        ("asia/tokyo", "Monday 1 July 2024, 21:00:00 JST (UTC+09:00), time zone Asia/Tokyo"),
        (
            "America/Los Angeles",
            "Monday 1 July 2024, 05:00:00 PDT (UTC-07:00), time zone America/Los_Angeles",
        ),
    ],
)
def test_current_time(registry: ToolRegistry, zone: str, expected: str) -> None:
    out = run(registry, "current_time", timezone=zone)
    assert ok(out) == expected
    assert datetime.fromisoformat(out.data["iso"]) == FIXED_NOW


def test_current_time_default_and_local(registry: ToolRegistry) -> None:
    assert "12:00:00 UTC" in ok(run(registry, "current_time"))
    out = run(registry, "current_time", timezone="local")
    assert "time zone local (" in ok(out)
    assert datetime.fromisoformat(out.data["iso"]) == FIXED_NOW


def test_unknown_time_zone(registry: ToolRegistry) -> None:
    message = error(run(registry, "current_time", timezone="Europe/Pariss"))
    assert message.startswith("unknown time zone 'Europe/Pariss'")
    assert "such as 'Europe/Paris'" in message
    assert "Did you mean 'Europe/Paris'" in message
    message = error(run(registry, "current_time", timezone="Mars/Olympus"))
    assert "such as 'Europe/Paris'" in message
    assert "unknown time zone" in error(run(registry, "current_time", timezone="../../etc/passwd"))


# -- save_note -------------------------------------------------------------------------------------


def test_save_note_writes_markdown_and_never_overwrites(
    registry: ToolRegistry, tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    first = run(registry, "save_note", title="Budget  meeting", text="Moved to Friday.\n")
    path = notes / "budget-meeting.md"
    assert ok(first) == f"Saved the note as {path}"
    assert first.data == {"path": str(path)}
    assert path.read_text(encoding="utf-8") == "# Budget meeting\n\nMoved to Friday.\n"
    second = run(registry, "save_note", title="Budget meeting", text="Moved again.")
    assert second.data == {"path": str(notes / "budget-meeting-2.md")}
    assert path.read_text(encoding="utf-8") == "# Budget meeting\n\nMoved to Friday.\n"
    third = run(registry, "save_note", title="budget meeting!", text="And again.")
    assert third.data == {"path": str(notes / "budget-meeting-3.md")}
    assert sorted(p.name for p in notes.iterdir()) == [
        "budget-meeting-2.md",
        "budget-meeting-3.md",
        "budget-meeting.md",
    ]


def test_save_note_titles_cannot_name_paths(registry: ToolRegistry, tmp_path: Path) -> None:
    for title in ["../../etc/passwd", "/etc/cron.d/job", "..", "a\\..\\b", "CON"]:
        out = run(registry, "save_note", title=title, text="x")
        saved = Path(out.data["path"])
        assert saved.parent == tmp_path / "notes", title
        assert saved.is_file()
    assert not (tmp_path / "etc").exists()


def test_save_note_refuses_empty_or_huge(registry: ToolRegistry) -> None:
    assert "title is empty" in error(run(registry, "save_note", title="  ", text="x"))
    assert "note is empty" in error(run(registry, "save_note", title="t", text="\n"))
    assert "longer than" in error(run(registry, "save_note", title="t", text="x" * 100_001))
    assert "'text' is a required property" in error(run(registry, "save_note", title="t"))


@pytest.mark.parametrize(
    ("title", "stem"),
    [
        ("Budget meeting", "budget-meeting"),
        ("Crème brûlée – recipe", "crème-brûlée-recipe"),
        ("../../etc/passwd", "etc-passwd"),
        ("???", "note"),
        ("nul", "note-nul"),
        ("x" * 300, "x" * 60),
    ],
)
def test_slug(title: str, stem: str) -> None:
    assert slug(title) == stem
