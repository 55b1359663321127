"""Memory over ``assistant serve``: the RPC routes and the remote client are
derived from ``MemoryAPI``; the memory events of a reply and the records
cross the wire."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.common.errors import NotFoundError
from backend.common.events import MemoriesUsed, MemorySaved
from backend.remote import RemoteBackend
from tests.server.conftest import Running, fake_backend, start_server


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Running]:
    yield from start_server(fake_backend(tmp_path / "home"))


async def test_memory_over_rpc(served: Running) -> None:
    remote = await RemoteBackend.open(served.url, served.token)
    try:
        events = await (await remote.chat.send(None, "Remember that my manager is Dana")).collect()
        (saved,) = [e for e in events if isinstance(e, MemorySaved)]
        assert saved.memory.text == "My manager is Dana"
        events = await (await remote.chat.send(None, "Who is my manager?")).collect()
        (used,) = [e for e in events if isinstance(e, MemoriesUsed)]
        assert [m.text for m in used.memories] == ["My manager is Dana"]
        (memory,) = await remote.memory.list_memories("dana")
        assert memory.source == "chat"
        conv = await remote.conversations.create_conversation()
        assert (await remote.memory.set_incognito(conv.id, True)).incognito
        with pytest.raises(ValueError, match="incognito"):
            await remote.memory.add_memory("x", source="command", conversation_id=conv.id)
        assert "My manager is Dana" in await remote.memory.export_memories("markdown")
        await remote.memory.delete_memory(memory.id)
        with pytest.raises(NotFoundError):
            await remote.memory.delete_memory(memory.id)
        assert await remote.memory.clear_memories() == 0
    finally:
        await remote.close()
