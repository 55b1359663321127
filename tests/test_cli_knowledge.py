"""``assistant folders``, ``index`` and ``search`` as a user runs them: in
this process (``tests.cli_helpers.run_cli``), except the first ``index``
and ``search`` of the round trip, which run as real processes so that
library noise on stderr (model loading, import-time warnings, progress
bars, all of which C code and a fresh interpreter can print past Python's
``sys.stderr``) is caught where a user would see it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import Result, run_cli


def run(home: Path, *args: str) -> Result:
    return run_cli(*args, env={"ASSISTANT_HOME": str(home)})


def run_process(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ASSISTANT_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=300,
    )  # fmt: skip


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "bread.md").write_text("# Baking\n\n## Bread\n\nKnead the dough for ten minutes.\n")
    (root / "sub" / "trains.txt").write_text("The night train to Vienna leaves at eleven.")
    (root / "bad.txt").write_bytes(b"\x00\x01" * 64)
    return root


def test_folders_index_search_round_trip(tmp_path: Path, docs: Path) -> None:
    """``index`` and the first ``search`` (both load MiniLM) are real
    processes: their stderr must stay empty."""
    home = tmp_path / "home"
    r = run(home, "folders", "add", str(docs))
    assert r.returncode == 0, r.stderr
    r = run_process(home, "index", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["indexed"] == 2 and summary["chunks"] >= 2
    # a binary file is not a document: skipped with its reason, not failed
    assert summary["failed"] == []
    assert summary["skipped"] == [{"path": str(docs / "bad.txt"), "reason": "binary"}]
    assert r.stderr == ""  # no model-loading noise
    r = run_process(home, "search", "when does the train to Vienna leave", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["results"][0]["path"].endswith("trains.txt")
    assert r.stderr == ""

    listed = json.loads(run(home, "folders", "list", "--json").stdout)["folders"]
    assert listed[0]["path"] == str(docs) and listed[0]["indexed"] == 2
    assert listed[0]["failed"] == 0 and listed[0]["skipped"] == 1
    files = {Path(f["path"]).name: f for f in listed[0]["files"]}
    assert files["bad.txt"]["error"] == "binary"
    r = run(home, "documents", "--status", "skipped")
    assert r.returncode == 0 and r.stdout.split() == ["skipped", "bad.txt", "(binary)"]

    for mode in ("hybrid", "dense", "keyword"):
        r = run(home, "search", "when does the train to Vienna leave", "--mode", mode, "--json")
        assert r.returncode == 0, r.stderr
        top = json.loads(r.stdout)["results"][0]
        assert top["path"].endswith("trains.txt"), (mode, top)
        assert {"path", "heading", "page", "score", "text"} <= set(top)
    r = run(home, "search", "kneading", "-k", "1", "--json")
    hit = json.loads(r.stdout)["results"][0]
    assert hit["heading"] == "Baking > Bread"

    again = json.loads(run(home, "index", "--json").stdout)
    assert again["indexed"] == 0 and again["unchanged"] == 3

    r = run(home, "folders", "remove", str(docs))
    assert r.returncode == 0, r.stderr
    assert json.loads(run(home, "folders", "list", "--json").stdout)["folders"] == []
    assert json.loads(run(home, "search", "train", "--json").stdout)["results"] == []


def test_folder_errors(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = run(home, "folders", "add", str(tmp_path / "missing"))
    assert r.returncode == 1 and "does not exist" in r.stderr
    r = run(home, "folders", "remove", "/nowhere")
    assert r.returncode == 1 and "no watched folder" in r.stderr
    r = run(home, "search", "x", "--mode", "fuzzy")
    assert r.returncode == 2
