"""A cross-encoder reranker from the model library, as a user gets one:
``assistant models pull ms-marco-minilm-l6`` (the real catalog entry, its
repo served by the loopback Hub with a cross-encoder built from the bundled
MiniLM weights), listed by ``assistant models``, used by ``search --rerank``
under the default ``[rag] reranker = "auto"``, removed by ``models rm``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.common.locations import Locations
from backend.modelhub import layout
from backend.modelhub.catalog import load_catalog
from backend.rag.rerank import check_cross_encoder_dir
from tests.cli_helpers import Result, run_cli

from .hub_server import HubServer

NAME = "ms-marco-minilm-l6"


@pytest.fixture
def reranker_hub(hub_env: HubServer, tiny_cross_encoder: Path) -> HubServer:
    entry = load_catalog().get(NAME)
    assert entry is not None and entry.kind == "reranker"
    files: dict[str, Path | bytes] = {
        p.name: p for p in sorted(tiny_cross_encoder.iterdir()) if p.is_file()
    }
    files["README.md"] = b"# a cross-encoder\n"
    files["onnx/model.onnx"] = b"an alternative weight format a pull leaves out"
    hub_env.add_repo(entry.repo, files, tags=("sentence-transformers",), downloads=7)
    return hub_env


def run(home: Locations, *args: str) -> Result:
    return run_cli(*args, env={"ASSISTANT_HOME": str(home.home)})


def test_pull_list_use_and_remove_a_reranker(
    reranker_hub: HubServer, home: Locations, tiny_cross_encoder: Path, tmp_path: Path
) -> None:
    r = run(home, "models", "pull", NAME, "--json")
    assert r.returncode == 0, r.stderr
    folder = home.models / NAME
    check_cross_encoder_dir(folder)  # a cross-encoder, as pulled
    for source in tiny_cross_encoder.iterdir():
        assert (folder / source.name).read_bytes() == source.read_bytes(), source.name
    assert not (folder / "onnx").exists()
    record = layout.read_record(home.models, NAME)
    assert record is not None and record.kind == "reranker"
    assert {f["path"] for f in record.files} >= {"config.json", "model.safetensors"}

    listed = json.loads(run(home, "models", "--json").stdout)
    (entry,) = listed["folders"]
    assert (entry["name"], entry["kind"], entry["in_use"]) == (NAME, "reranker", True)
    assert entry["size_bytes"] == sum(f["size"] for f in record.files)
    text = run(home, "models").stdout
    assert f"* {NAME}" in text and "reranker" in text

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "trains.txt").write_text("The night train to Vienna leaves at eleven.")
    (docs / "bread.txt").write_text("Knead the bread dough for ten minutes.")
    assert run(home, "folders", "add", str(docs)).returncode == 0
    assert run(home, "index").returncode == 0
    # A real process: loading the cross-encoder must not print on stderr.
    done = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "search", "train to Vienna", "--rerank", "--json"],
        env={**os.environ, "ASSISTANT_HOME": str(home.home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    found = json.loads(done.stdout)
    assert found["reranked"] is True and found["mode"] == "hybrid+rerank"
    reranker = found["reranker"]
    assert (reranker["kind"], reranker["source"], reranker["name"]) == (
        "cross-encoder",
        "downloaded",
        NAME,
    )
    assert reranker["path"] == str(folder)
    assert {Path(h["path"]).name for h in found["results"]} == {"trains.txt", "bread.txt"}
    plain = json.loads(run(home, "search", "train to Vienna", "--json").stdout)
    assert plain["reranked"] is False and plain["reranker"]["name"] == NAME

    r = run(home, "models", "rm", NAME, "--yes", "--json")
    assert r.returncode == 0, r.stderr
    assert not folder.exists() and layout.read_record(home.models, NAME) is None
    assert json.loads(run(home, "models", "--json").stdout)["folders"] == []
    after = json.loads(run(home, "search", "train", "--rerank", "--json").stdout)
    assert after["reranked"] is False and after["reranker"]["kind"] == "none"
