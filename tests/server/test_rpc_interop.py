"""Structured output and export/import over ``assistant --connect``: the
new contract methods (``ChatAPI.send(schema=...)``, ``TransferAPI``) are
served and callable remotely with no RPC code of their own, and their
errors arrive as the same classes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.api import ImportFormatError, SchemaError
from backend.common.events import ErrorEvent, MessageSaved
from backend.remote import RemoteBackend

from .conftest import Running

CHATGPT = Path(__file__).parents[1] / "data" / "chatgpt_conversations.json"


@pytest.fixture
async def remote(served: Running) -> AsyncIterator[RemoteBackend]:
    backend = await RemoteBackend.open(served.url, served.token)
    yield backend
    await backend.close()


async def test_structured_send_over_rpc(remote: RemoteBackend) -> None:
    with pytest.raises(SchemaError, match="properties") as err:
        await remote.chat.send(None, "hi", schema={"properties": 3})
    assert err.value.title == "Invalid schema"
    assert await remote.conversations.list_conversations() == []
    events = await (await remote.chat.send(None, "hi", schema={"type": "object"})).collect()
    (error,) = [e for e in events if isinstance(e, ErrorEvent)]  # the fake echoes: no JSON
    assert error.title == "Invalid structured output"
    assert next(e for e in events if isinstance(e, MessageSaved)).stop_reason == "error"


async def test_export_and_import_over_rpc(remote: RemoteBackend) -> None:
    added = await remote.transfer.import_conversations(CHATGPT.read_text(encoding="utf-8"))
    assert [c.title for c in added] == ["Packing for Lyon", "Sourdough starter"]
    doc = json.loads(await remote.transfer.export_conversations([added[1].id], "json"))
    assert [m["role"] for m in doc["conversations"][0]["messages"]] == ["user", "assistant"]
    md = await remote.transfer.export_conversations(None, "md")
    assert md.count("\n---\n\n# ") == 2  # two documents, each front matter then its title
    with pytest.raises(ImportFormatError, match="not JSON") as err:
        await remote.transfer.import_conversations("{nope")
    assert err.value.title == "Cannot import"
    assert len(await remote.conversations.list_conversations()) == 2
