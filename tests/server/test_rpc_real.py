"""``RemoteBackend`` against a server whose backend runs the bundled
SmolLM2 through llama.cpp (default settings): a reply streams over the RPC
API and is stored in the server's conversation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.common.config import Settings
from backend.common.events import MessageSaved, TextDelta
from backend.common.locations import Locations
from backend.remote import RemoteBackend

from .conftest import Running, start_server


@pytest.fixture
def served_real(tmp_path: Path) -> Iterator[Running]:
    yield from start_server({"locations": Locations(tmp_path / "home"), "settings": Settings()})


@pytest.mark.real_model
async def test_real_model_reply_streams_over_rpc_and_is_stored(served_real: Running) -> None:
    remote = await RemoteBackend.open(served_real.url, served_real.token)
    try:
        model = await remote.models.default_model()
        assert model.path is not None and model.path.suffix == ".gguf"  # the bundled GGUF
        started = time.perf_counter()
        stream = await remote.chat.send(
            None, "What is the capital of France? Answer in one sentence."
        )
        deltas: list[TextDelta] = []
        first: float | None = None
        saved: MessageSaved | None = None
        async for event in stream:
            if isinstance(event, TextDelta) and event.text:
                first = first or time.perf_counter() - started
                deltas.append(event)
            elif isinstance(event, MessageSaved):
                saved = event
        text = "".join(d.text for d in deltas)
        assert text.strip() and len(deltas) > 1  # streamed piece by piece
        assert saved is not None and saved.content == text
        thread = await remote.conversations.thread(stream.conversation_id)
        assert [m.role for m in thread] == ["user", "assistant"]
        assert thread[-1].content == text and thread[-1].status == "complete"
        print(f"first token {first:.2f} s, {len(deltas)} deltas, total "
              f"{time.perf_counter() - started:.2f} s")  # fmt: skip
    finally:
        await remote.close()
