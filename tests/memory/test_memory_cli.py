"""``assistant memory`` and the memory parts of ``assistant ask``, run in
this process on the real store, the real MiniLM and the bundled model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import Result, run_cli


def run(home: Path, *args: str) -> Result:
    return run_cli(*args, env={"ASSISTANT_HOME": str(home)})


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "clihome"
    h.mkdir()
    (h / "config.toml").write_text("[generation]\nmax_tokens = 16\ntemperature = 0\n")
    return h


def test_memory_list_add_rm_clear_export(home: Path, tmp_path: Path) -> None:
    assert run(home, "memory", "list").stdout.strip() == "No memories."
    added = run(home, "memory", "add", "I prefer metric units", "--json")
    assert added.returncode == 0, added.stderr
    first = json.loads(added.stdout)
    assert (first["text"], first["source"]) == ("I prefer metric units", "cli")
    run(home, "memory", "add", "My manager is Dana")
    listed = json.loads(run(home, "memory", "list", "--json").stdout)
    assert [m["text"] for m in listed] == ["My manager is Dana", "I prefer metric units"]
    assert [
        m["text"] for m in json.loads(run(home, "memory", "list", "dana", "--json").stdout)
    ] == ["My manager is Dana"]
    assert "My manager is Dana" in run(home, "memory", "list").stdout
    out = tmp_path / "memories.md"
    assert run(home, "memory", "export", str(out)).returncode == 0
    assert "- I prefer metric units" in out.read_text()
    assert json.loads(run(home, "memory", "rm", str(first["id"]), "--json").stdout) == {
        "deleted": first["id"]
    }
    missing = run(home, "memory", "rm", str(first["id"]))
    assert missing.returncode == 1 and "no memory" in missing.stderr
    refused = run(home, "memory", "clear")  # not a terminal: needs --yes
    assert refused.returncode == 2
    assert json.loads(run(home, "memory", "clear", "--yes", "--json").stdout) == {"deleted": 1}
    assert json.loads(run(home, "memory", "list", "--json").stdout) == []
    assert run(home, "memory", "add", "  ").returncode == 1


@pytest.mark.real_model
def test_told_once_used_later_and_never_incognito(home: Path) -> None:
    told = run(home, "ask", "Remember that my manager is Dana", "--json")
    assert told.returncode == 0, told.stderr
    data = json.loads(told.stdout)
    assert data["remembered"]["text"] == "My manager is Dana"

    later = run(home, "ask", "Who is my manager?")  # a new conversation
    assert later.returncode == 0, later.stderr
    assert "Memory used: My manager is Dana" in later.stdout

    # incognito: the same kind of question reads nothing, and "remember" writes nothing
    hidden = run(home, "ask", "Remember that my manager is Dana Scully", "--incognito", "--json")
    assert hidden.returncode == 0, hidden.stderr
    hidden_data = json.loads(hidden.stdout)
    assert hidden_data["incognito"] is True
    assert hidden_data["memories_used"] == [] and hidden_data["remembered"] is None
    assert [m["text"] for m in json.loads(run(home, "memory", "list", "--json").stdout)] == [
        "My manager is Dana"
    ]
