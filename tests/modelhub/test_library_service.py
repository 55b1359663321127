"""The model library through the backend's API (``backend.library``): the
embedded backend and a ``RemoteBackend`` over real HTTP, against the
loopback Hub serving the real SmolLM2 GGUF. A pulled model is listed at
once and chats; search and quantizations come back labelled for this
machine; removal frees the space; errors keep their class across the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from server.conftest import start_server

from backend.common.config import Settings
from backend.common.events import MessageSaved, TextDelta
from backend.common.locations import Locations
from backend.local.backend import Backend
from backend.modelhub.errors import ModelNotFoundError, RemoveRefusedError
from backend.modelhub.progress import PullProgress
from backend.remote import RemoteBackend

from .conftest import SMOL_FILE, SMOL_REPO, TINY_REPO
from .hub_server import HubServer

PULLED = SMOL_FILE.removesuffix(".gguf")


@pytest.fixture
async def backend(hub_env: HubServer, tmp_path: Path) -> AsyncIterator[Backend]:
    b = await Backend.open(locations=Locations(tmp_path / "home"), settings=Settings())
    yield b
    await b.close()


async def test_pull_lists_chats_and_removes(backend: Backend) -> None:
    before = {m.name for m in await backend.models.list_models()}
    assert PULLED not in before
    seen: list[PullProgress] = []
    result = await backend.library.pull(SMOL_REPO, progress=seen.append)
    assert result.path == backend.locations.models / SMOL_FILE and result.kind == "chat"
    assert result.downloaded_bytes == result.total_bytes == result.path.stat().st_size
    assert seen and seen[-1].status == "done"
    assert any(p.status == "downloading" and p.done_bytes < result.total_bytes for p in seen)

    assert PULLED in {m.name for m in await backend.models.list_models()}  # at once
    stream = await backend.chat.send(None, "Say hello.", model=PULLED)
    events = await stream.collect()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)).strip()
    assert isinstance(events[-1], MessageSaved) and events[-1].stop_reason in ("stop", "length")

    removed = await backend.library.remove(PULLED)
    assert removed.bytes_freed == result.total_bytes and not result.path.exists()
    assert PULLED not in {m.name for m in await backend.models.list_models()}
    with pytest.raises(RemoveRefusedError):
        await backend.library.remove("smollm2-135m-instruct")  # the bundled model


async def test_offers_search_and_quants_are_labelled_for_this_machine(backend: Backend) -> None:
    machine = await backend.library.machine()
    assert machine.ram_bytes > 0
    offers = await backend.library.offers()
    assert {o.entry.kind for o in offers} == {"chat", "embedder", "reranker"}
    for offer in offers:
        assert [f.quant for f in offer.fits] == [q.name for q in offer.entry.quants]
        assert all(f.label in ("fits", "slow", "won't fit") and f.basis for f in offer.fits)
    assert sum(o.recommended is not None for o in offers) <= 1

    hits = await backend.library.search("tiny")
    assert TINY_REPO in [h.repo for h in hits]
    quants = await backend.library.quants(TINY_REPO)
    assert {q.option.quant for q in quants} >= {"Q8_0"}
    assert all(q.fit.weights_bytes == q.option.total_bytes for q in quants)
    with pytest.raises(ModelNotFoundError):
        await backend.library.quants("test-org/no-such-repo")


async def test_a_pull_over_rpc_streams_progress(hub_env: HubServer, tmp_path: Path) -> None:
    kwargs = {"locations": Locations(tmp_path / "served"), "settings": Settings()}
    for running in start_server(kwargs):
        remote = await RemoteBackend.open(running.url, running.token)
        try:
            seen: list[PullProgress] = []
            result = await remote.library.pull(TINY_REPO, quant="Q8_0", progress=seen.append)
            assert result.path.name == "tiny-q8_0.gguf" and result.path.is_file()
            assert seen and isinstance(seen[-1], PullProgress) and seen[-1].status == "done"
            assert "tiny-q8_0" in {m.name for m in await remote.models.list_models()}
            with pytest.raises(ModelNotFoundError):
                await remote.library.pull("test-org/no-such-repo")
        finally:
            await remote.close()
