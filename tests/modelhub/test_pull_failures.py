"""Pulls that must fail cleanly: no disk, no network, cancelled, gated,
unknown, server errors, a concurrent pull, offline mode. Each leaves nothing
registered (``discover_models`` does not list the model). Also: where the
token for a gated repo comes from.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from backend.common.locations import Locations
from backend.modelhub import disk
from backend.modelhub.download import pull
from backend.modelhub.errors import (
    GatedRepoError,
    HubUnreachableError,
    ModelNotFoundError,
    NotEnoughDiskError,
    PullCancelledError,
    QuantNotFoundError,
)
from backend.modelhub.progress import PullProgress
from backend.modelhub.transfer import RetryPolicy

from .conftest import GATED_REPO, MIB, TINY_REPO, gguf_names
from .helpers import FAST_RETRY, listed, partials, sent_by_new_gets, sha256
from .hub_server import HubServer


def test_not_enough_disk_is_refused_before_downloading(
    hub_env: HubServer, home: Locations, hub_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(disk, "free_bytes", lambda folder: 1_000_000)
    size = hub_files["q8"].stat().st_size
    with pytest.raises(NotEnoughDiskError) as err:
        pull(TINY_REPO, quant="Q8_0", locations=home)
    assert (err.value.needed, err.value.free) == (size, 1_000_000)
    assert f"{size:,} bytes" in str(err.value) and "1,000,000 bytes" in str(err.value)
    assert err.value.title == "Not enough disk space"
    assert hub_env.gets("tiny-q8_0.gguf") == []
    assert gguf_names(home) == [] and partials(home) == []


def test_no_network_is_a_clear_error(
    hub_env: HubServer, home: Locations, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped = HubServer().start()
    stopped.stop()  # its port is closed now
    monkeypatch.setenv("HF_ENDPOINT", stopped.url)
    with pytest.raises(HubUnreachableError, match=f"Cannot reach {stopped.url}") as err:
        pull(TINY_REPO, quant="Q8_0", locations=home, retry=FAST_RETRY)
    assert err.value.title == "Cannot reach the model hub"
    assert gguf_names(home) == [] and partials(home) == []


def test_cancel_mid_download_registers_nothing_and_the_next_pull_resumes(
    hub_env: HubServer, home: Locations, hub_files: dict[str, Path]
) -> None:
    cancel = threading.Event()

    def progress(p: PullProgress) -> None:
        if p.done_bytes >= 2 * MIB:
            cancel.set()

    with pytest.raises(PullCancelledError, match="nothing was registered"):
        pull(TINY_REPO, quant="Q8_0", locations=home, on_progress=progress, cancel=cancel)
    assert gguf_names(home) == [] and "tiny-q8_0" not in listed(home)
    (partial,) = partials(home)  # kept on purpose, for the next pull
    size, kept = hub_files["q8"].stat().st_size, partial.stat().st_size
    assert kept == 2 * MIB  # every chunk reported before the cancel, none after

    seen = len(hub_env.gets("tiny-q8_0.gguf"))
    result = pull(TINY_REPO, quant="Q8_0", locations=home)
    assert sent_by_new_gets(hub_env, "tiny-q8_0.gguf", seen) == size - kept
    assert sha256(result.path) == sha256(hub_files["q8"])


def test_gated_repo_needs_a_token(hub_env: HubServer, home: Locations) -> None:
    with pytest.raises(GatedRepoError, match="gated") as err:
        pull(GATED_REPO, quant="Q8_0", locations=home)
    assert err.value.title == "Access token needed"
    with pytest.raises(GatedRepoError, match="refused the token"):
        pull(GATED_REPO, quant="Q8_0", locations=home, token="hf_wrong")
    assert gguf_names(home) == []
    result = pull(GATED_REPO, quant="Q8_0", locations=home, token=hub_env.token)
    assert result.path.is_file()


def test_token_comes_from_the_secret_store(
    hub_env: HubServer, home: Locations, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.common.secrets import SecretStore

    SecretStore(home, use_keyring=False).set("hf-token", hub_env.token)
    monkeypatch.setattr("backend.common.secrets._keyring_usable", lambda: False)
    result = pull(GATED_REPO, quant="Q8_0", locations=home)
    assert result.path.is_file()
    auth = [h.get("authorization") for m, p, h in hub_env.requests if "/resolve/" in p]
    assert auth and set(auth) == {f"Bearer {hub_env.token}"}


def test_unknown_repo_quant_and_name_are_clear_errors(hub_env: HubServer, home: Locations) -> None:
    with pytest.raises(ModelNotFoundError, match="test-org/Nope-GGUF was not found"):
        pull("test-org/Nope-GGUF", quant="Q8_0", locations=home)
    with pytest.raises(QuantNotFoundError, match="it offers: Q4_0, Q8_0") as err:
        pull(TINY_REPO, quant="Q2_K", locations=home)
    assert err.value.available == ("Q4_0", "Q8_0")  # the vision projector is not offered
    with pytest.raises(ModelNotFoundError, match="not in the model catalog"):
        pull("no-such-short-name", locations=home)
    assert gguf_names(home) == []


def test_offline_mode_is_reported(
    hub_env: HubServer, home: Locations, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubUnreachableError, match="HF_HUB_OFFLINE"):
        pull(TINY_REPO, quant="Q8_0", locations=home)
    assert hub_env.requests == [] and gguf_names(home) == []
    assert os.environ["HF_HUB_OFFLINE"] == "0"


def test_server_errors_are_retried_with_back_off(
    hub_env: HubServer, home: Locations, hub_files: dict[str, Path]
) -> None:
    assert [RetryPolicy().delay(n) for n in (1, 2, 3, 6, 9)] == [2, 4, 8, 60, 60]
    hub_env.fail_next["tiny-q8_0.gguf"] = 2
    result = pull(
        TINY_REPO, quant="Q8_0", locations=home, retry=RetryPolicy(attempts=2, base_delay_s=0.01)
    )
    assert hub_env.fail_next["tiny-q8_0.gguf"] == 0  # both 503s were met, then it worked
    assert sha256(result.path) == sha256(hub_files["q8"])

    hub_env.fail_next["tiny-q4_0.gguf"] = 5
    with pytest.raises(HubUnreachableError, match="kept failing"):
        pull(TINY_REPO, quant="Q4_0", locations=home, retry=FAST_RETRY)
    assert hub_env.fail_next["tiny-q4_0.gguf"] == 3  # one try and one retry
    assert "tiny-q4_0.gguf" not in gguf_names(home)


def test_a_second_pull_of_the_same_model_is_refused_while_one_runs(
    hub_env: HubServer, home: Locations
) -> None:
    from filelock import FileLock

    from backend.modelhub.errors import PullInProgressError

    lock = FileLock(home.models / ".modelhub" / "locks" / "tiny-q8_0.gguf.lock")
    (home.models / ".modelhub" / "locks").mkdir(parents=True)
    with lock, pytest.raises(PullInProgressError, match="already being downloaded"):
        pull(TINY_REPO, quant="Q8_0", locations=home)
    assert gguf_names(home) == [] and hub_env.gets("tiny-q8_0.gguf") == []
    assert pull(TINY_REPO, quant="Q8_0", locations=home).path.is_file()
