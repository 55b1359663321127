"""Pulls of model folders, through a worker process, and by catalog short name."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from backend.common.locations import Locations
from backend.modelhub import layout
from backend.modelhub.download import pull
from backend.modelhub.errors import PullCancelledError, QuantNotFoundError
from backend.modelhub.progress import PullProgress
from backend.modelhub.worker import pull_in_subprocess

from .conftest import EMBEDDER_REPO, MIB, TINY_REPO, embedder_folder, gguf_names
from .helpers import partials, sha256
from .hub_server import HubServer


def test_pull_embedder_folder_downloads_and_verifies_every_file(
    hub_env: HubServer, home: Locations
) -> None:
    result = pull(EMBEDDER_REPO, kind="embedder", locations=home)
    source = embedder_folder()
    assert result.path == home.models / "all-MiniLM-L6-v2" and result.path.is_dir()
    expected = sorted(p.relative_to(source).as_posix() for p in source.rglob("*")
                      if p.is_file() and p.name != ".gitattributes")  # fmt: skip
    got = sorted(
        p.relative_to(result.path).as_posix() for p in result.path.rglob("*") if p.is_file()
    )
    assert got == expected
    for rel in expected:
        assert (result.path / rel).read_bytes() == (source / rel).read_bytes(), rel
    assert gguf_names(home) == [] and partials(home) == []
    record = layout.read_record(home.models, "all-MiniLM-L6-v2")
    assert record is not None and record.kind == "embedder"
    assert pull(EMBEDDER_REPO, kind="embedder", locations=home).already_present


def test_pull_in_a_worker_process_relays_progress_and_errors(
    hub_env: HubServer, home: Locations, hub_files: dict[str, Path]
) -> None:
    events: list[PullProgress] = []
    result = pull_in_subprocess(TINY_REPO, quant="Q8_0", locations=home, on_progress=events.append)
    assert result.path == home.models / "tiny-q8_0.gguf"
    assert sha256(result.path) == sha256(hub_files["q8"])
    assert events and events[-1].status == "done"
    with pytest.raises(QuantNotFoundError, match="it offers"):
        pull_in_subprocess(TINY_REPO, quant="Q2_K", locations=home)


def test_catalog_short_names_pick_repo_kind_and_default_quant(
    hub_env: HubServer, home: Locations
) -> None:
    from backend.modelhub.catalog import parse_catalog

    catalog = parse_catalog(f"""
[[models]]
name = "tiny"
kind = "chat"
repo = "{TINY_REPO}"
title = "Tiny"
params_b = 0.01
context = 256
license = "mit"
default_quant = "Q4_0"
quants = [{{ name = "Q8_0", bytes = 3000000 }}, {{ name = "Q4_0", bytes = 500000 }}]

[[models]]
name = "minilm"
kind = "embedder"
repo = "{EMBEDDER_REPO}"
title = "MiniLM"
params_b = 0.02
context = 256
license = "apache-2.0"
quants = [{{ name = "F32", bytes = 90000000 }}]
""")
    chat = pull("tiny", locations=home, catalog=catalog)
    assert chat.path.name == "tiny-q4_0.gguf" and chat.quant == "Q4_0"
    assert pull("tiny", quant="q8_0", locations=home, catalog=catalog).quant == "Q8_0"
    folder = pull("minilm", locations=home, catalog=catalog)
    assert folder.kind == "embedder" and folder.path == home.models / "minilm"
    assert (folder.path / "modules.json").is_file()


def test_cancelling_a_worker_pull_stops_it_cleanly(hub_env: HubServer, home: Locations) -> None:
    hub_env.throttle_bps = 2 * MIB  # the 3 MiB file takes 1.5 s
    cancel = threading.Event()

    def progress(p: PullProgress) -> None:
        if p.done_bytes >= MIB:
            cancel.set()

    with pytest.raises(PullCancelledError, match="cancelled"):
        pull_in_subprocess(
            TINY_REPO, quant="Q8_0", locations=home, on_progress=progress, cancel=cancel
        )
    assert gguf_names(home) == []
    (partial,) = partials(home)  # SIGTERM became a clean cancel: the partial is kept
    assert 0 < partial.stat().st_size < 3 * MIB
