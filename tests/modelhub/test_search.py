"""Search beyond the catalog against the loopback Hub."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from backend.modelhub.errors import HubUnreachableError, ModelNotFoundError
from backend.modelhub.search import repo_quants, search_hub

from .conftest import EMBEDDER_REPO, GATED_REPO, SMOL_REPO, SPLIT_REPO, TINY_REPO
from .hub_server import HubServer


def test_search_returns_gguf_repos_most_downloaded_first(hub_env: HubServer) -> None:
    hits = search_hub("test-org")
    assert [h.repo for h in hits] == [SMOL_REPO, TINY_REPO, SPLIT_REPO, GATED_REPO]
    assert EMBEDDER_REPO not in {h.repo for h in hits}  # not tagged gguf
    assert [h.gated for h in hits] == [False, False, False, True]
    assert hits[0].downloads == 50 and "gguf" in hits[0].tags
    assert [h.repo for h in search_hub("tiny", limit=2)] == [TINY_REPO, SPLIT_REPO]
    assert search_hub("no-such-model") == []
    searches = [parse_qs(urlsplit(path).query) for method, path, _ in hub_env.requests
                if method == "GET" and urlsplit(path).path == "/api/models"]  # fmt: skip
    assert len(searches) == 3
    assert searches[0]["search"] == ["test-org"] and searches[0]["filter"] == ["gguf"]
    assert searches[0]["sort"] == ["downloads"]


def test_repo_quants_lists_each_model_with_its_size(
    hub_env: HubServer, hub_files: dict[str, Path]
) -> None:
    options = repo_quants(TINY_REPO)
    assert [(o.quant, o.files, o.total_bytes) for o in options] == [
        ("Q4_0", ("tiny-q4_0.gguf",), hub_files["q4"].stat().st_size),
        ("Q8_0", ("tiny-q8_0.gguf",), hub_files["q8"].stat().st_size),
    ]  # the vision projector and README are not models
    (split,) = repo_quants(SPLIT_REPO)
    assert split.quant == "Q8_0" and split.parts == 2
    assert split.total_bytes == sum(hub_files[k].stat().st_size for k in ("split1", "split2"))
    assert repo_quants(EMBEDDER_REPO) == []
    with pytest.raises(ModelNotFoundError):
        repo_quants("test-org/Missing")


def test_search_with_the_hub_down_is_a_clear_error(
    hub_env: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = HubServer().start()
    down.stop()
    monkeypatch.setenv("HF_ENDPOINT", down.url)
    with pytest.raises(HubUnreachableError, match="Cannot reach"):
        search_hub("qwen")
