"""``assistant export`` and ``assistant import`` on real data folders (run
in this process, ``tests.cli_helpers``): ChatGPT's export in, our JSON
out and back in another folder unchanged, Markdown to stdout or a file,
and clear errors that import nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_helpers import Result, run_cli

CHATGPT = Path(__file__).parent / "data" / "chatgpt_conversations.json"


def run(home: Path, *args: str, stdin: str | None = None) -> Result:
    return run_cli(*args, stdin=stdin, env={"ASSISTANT_HOME": str(home)})


def test_import_export_round_trip_through_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    r = run(a, "import", str(CHATGPT))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "imported 2 conversation(s)"
    assert "Packing for Lyon" in r.stdout and "Sourdough starter" in r.stdout

    out = tmp_path / "all.json"
    r = run(a, "export", "--all", "--format", "json", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and f"to {out}" in r.stderr
    r = run(b, "import", str(out))
    assert r.returncode == 0, r.stderr
    again = run(b, "export", "--all", "-f", "json")
    assert again.returncode == 0, again.stderr
    first, second = json.loads(out.read_text(encoding="utf-8")), json.loads(again.stdout)
    del first["exported_at"], second["exported_at"]
    assert first == second


def test_markdown_export_of_the_latest_or_one_conversation(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run(home, "import", "-", stdin=CHATGPT.read_text(encoding="utf-8")).returncode == 0
    latest = run(home, "export")  # Markdown of the latest conversation, to stdout
    assert latest.returncode == 0, latest.stderr
    assert latest.stdout.startswith('---\ntitle: "Sourdough starter"\nmodel: "gpt-4o-mini"\n')
    path = tmp_path / "lyon.md"
    r = run(home, "export", "--conversation", "1", "-o", str(path))
    assert r.returncode == 0, r.stderr
    text = path.read_text(encoding="utf-8")
    assert 'title: "Packing for Lyon"' in text and "Is this jacket warm enough?" in text
    assert "And which shoes?" not in text  # not on the branch ChatGPT showed last


def test_errors_are_clear_and_import_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = run(home, "export")
    assert (r.returncode, r.stderr) == (1, "Not found: there are no conversations to export\n")
    bad = tmp_path / "bad.json"
    bad.write_text('[{"title": "x", "mapping": {"n": {"parent": 5, "children": []}}}]')
    r = run(home, "import", str(bad))
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("Cannot import: ChatGPT export, $[0].mapping.n.parent: 5 is not")
    r = run(home, "import", str(tmp_path / "missing.json"))
    assert r.returncode == 1 and r.stderr.startswith("Cannot import: cannot read")
    r = run(home, "export", "--all", "-f", "json")
    assert json.loads(r.stdout)["conversations"] == []
    r = run(home, "export", "-c", "7")
    assert (r.returncode, r.stderr) == (1, "Not found: no conversation 7\n")
    r = run(home, "export", "--all", "-o", str(tmp_path / "no" / "such" / "dir.md"))
    assert r.returncode == 1 and r.stderr.startswith("Cannot export: cannot write")
