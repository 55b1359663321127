"""Pulls from the loopback Hub with the real huggingface_hub client.

Every test checks the models folder the way the app does
(``backend.modelfiles.catalog.discover_models``): a model is there only once it is
complete and verified.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend.common.locations import Locations
from backend.modelhub import layout
from backend.modelhub.download import pull
from backend.modelhub.errors import ChecksumMismatchError
from backend.modelhub.progress import PullProgress

from .conftest import MIB, SMOL_FILE, SMOL_REPO, SPLIT_REPO, TINY_REPO, gguf_names
from .helpers import listed, partials, sent_by_new_gets, sha256
from .hub_server import HubServer

ROOT = Path(__file__).parents[2]


def test_pull_verifies_registers_and_llama_cpp_runs_it(
    hub_env: HubServer, home: Locations, hub_files: dict[str, Path]
) -> None:
    events: list[PullProgress] = []
    result = pull(SMOL_REPO, quant="q4_1", locations=home, on_progress=events.append)

    assert result.path == home.models / SMOL_FILE
    assert result.files == (result.path,) and result.quant == "Q4_1" and result.kind == "chat"
    size = hub_files["smol"].stat().st_size
    assert result.total_bytes == result.downloaded_bytes == size
    assert sha256(result.path) == sha256(hub_files["smol"])
    assert listed(home)["smollm2-135m-instruct-q4_1"] == result.path
    assert partials(home) == []
    record = layout.read_record(home.models, SMOL_FILE)
    assert record is not None and record.repo == SMOL_REPO
    assert record.files[0]["sha256"] == sha256(result.path)

    downloading = [e for e in events if e.status == "downloading"]
    assert downloading[-1].done_bytes == downloading[-1].total_bytes == size
    assert all(a.done_bytes <= b.done_bytes for a, b in itertools.pairwise(downloading))
    assert any(e.speed_bps and e.eta_s is not None for e in downloading)
    assert [e.status for e in events][-2:] == ["verifying", "done"]

    # Pulling again is a no-op: nothing crosses the network.
    sent = hub_env.bytes_sent()
    again = pull(SMOL_REPO, quant="Q4_1", locations=home)
    assert again.already_present and again.downloaded_bytes == 0
    assert hub_env.bytes_sent() == sent

    from llama_cpp import Llama

    # One thread for prompt and decode: on a busy 2-core machine llama.cpp's
    # spinning worker threads make even 8 tokens take seconds.
    llm = Llama(
        model_path=str(result.path), n_ctx=256, n_threads=1, n_threads_batch=1, verbose=False
    )
    try:
        out = llm.create_completion("The capital of France is", max_tokens=8, temperature=0.0)
    finally:
        llm.close()
    assert out["usage"]["completion_tokens"] > 0  # type: ignore[index]
    assert out["choices"][0]["text"].strip()  # type: ignore[index]


def test_killed_pull_resumes_from_its_partial_file(
    hub_env: HubServer, home: Locations, hub_files: dict[str, Path]
) -> None:
    size = hub_files["smol"].stat().st_size
    hub_env.throttle_bps = 40 * MIB  # ~2.5 s for the whole file
    cmd = [sys.executable, "-m", "backend.modelhub", "pull", SMOL_REPO, "--quant", "Q4_1",
           "--home", str(home.home)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while hub_env.bytes_sent(SMOL_FILE) < size * 0.45:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the download never got going"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    assert gguf_names(home) == []  # nothing registered
    (partial,) = partials(home)
    kept = partial.stat().st_size
    assert 0 < kept < size

    hub_env.throttle_bps = None
    seen = len(hub_env.gets(SMOL_FILE))
    result = pull(SMOL_REPO, quant="Q4_1", locations=home)
    second_run = sent_by_new_gets(hub_env, SMOL_FILE, seen)
    assert second_run == size - kept < size
    assert [g.start for g in hub_env.gets(SMOL_FILE)[seen:]] == [kept]  # one Range request
    assert result.downloaded_bytes == second_run
    assert sha256(result.path) == sha256(hub_files["smol"])
    assert "smollm2-135m-instruct-q4_1" in listed(home)
    assert partials(home) == []


def test_dropped_connection_is_resumed_within_the_pull(
    hub_env: HubServer, home: Locations, hub_files: dict[str, Path]
) -> None:
    hub_env.cut_after["tiny-q8_0.gguf"] = MIB + MIB // 2
    result = pull(TINY_REPO, quant="Q8_0", locations=home)
    gets = hub_env.gets("tiny-q8_0.gguf")
    assert len(gets) == 2
    assert gets[0].bytes == MIB + MIB // 2
    assert gets[1].start > 0  # resumed with Range, not restarted
    assert sha256(result.path) == sha256(hub_files["q8"])


def test_corrupted_download_fails_its_checksum_and_is_not_registered(
    hub_env: HubServer, home: Locations, hub_files: dict[str, Path]
) -> None:
    hub_env.corrupt.add("tiny-q8_0.gguf")
    with pytest.raises(ChecksumMismatchError, match="SHA-256 checksum") as err:
        pull(TINY_REPO, quant="Q8_0", locations=home)
    assert err.value.title == "Download corrupted"
    assert "deleted" in str(err.value)
    assert gguf_names(home) == [] and "tiny-q8_0" not in listed(home)
    assert partials(home) == []  # the bad bytes are gone: the next pull starts afresh

    hub_env.corrupt.clear()
    seen = len(hub_env.gets("tiny-q8_0.gguf"))
    result = pull(TINY_REPO, quant="Q8_0", locations=home)
    assert sent_by_new_gets(hub_env, "tiny-q8_0.gguf", seen) == hub_files["q8"].stat().st_size
    assert listed(home)["tiny-q8_0"] == result.path


def test_split_gguf_downloads_and_verifies_every_part(
    hub_env: HubServer, home: Locations, hub_files: dict[str, Path]
) -> None:
    events: list[PullProgress] = []
    result = pull(SPLIT_REPO, quant="Q8_0", locations=home, on_progress=events.append)
    first, second = hub_files["split1"], hub_files["split2"]
    assert [p.name for p in result.files] == [first.name, second.name]
    assert result.path == home.models / first.name
    assert sha256(result.files[0]) == sha256(first)
    assert sha256(result.files[1]) == sha256(second)
    assert len(hub_env.gets(first.name)) == 1 and len(hub_env.gets(second.name)) == 1
    assert result.total_bytes == first.stat().st_size + second.stat().st_size
    assert listed(home)["tiny-split-q8_0"] == result.path
    verifying = [(e.file, e.part, e.parts) for e in events if e.status == "verifying"]
    assert verifying == [(first.name, 1, 2), (second.name, 2, 2)]
    record = layout.read_record(home.models, first.name)
    assert record is not None and [f["path"] for f in record.files] == [first.name, second.name]

    # A pull killed between its final moves leaves part 2 without part 1: the
    # next pull fetches only what is missing.
    result.files[0].unlink()
    again = pull(SPLIT_REPO, quant="Q8_0", locations=home)
    assert len(hub_env.gets(first.name)) == 2 and len(hub_env.gets(second.name)) == 1
    assert again.downloaded_bytes == first.stat().st_size
    assert sha256(again.files[0]) == sha256(first)
