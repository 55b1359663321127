"""The transfer service: conversations exported as JSON or Markdown, and
imported from our JSON or ChatGPT's ``conversations.json``.

Text in, text out: reading and writing files is the caller's (the CLI,
the TUI), so a remote backend exports and imports the same way. The
formats are ``backend.transfer``'s; the database side is
``backend.store.transfer``'s. An import is checked whole before the one
transaction that writes it, so a bad file imports nothing.
"""

from __future__ import annotations

from backend.local.core import Core
from backend.store.conversations import now
from backend.store.records import Conversation
from backend.transfer import FORMATS, read_import
from backend.transfer.document import write_document
from backend.transfer.markdown import render_all


class TransferService:
    """Implements ``backend.api.contract.TransferAPI``."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def _export_now(self, conversation_ids: list[int] | None, fmt: str) -> str:
        if fmt not in FORMATS:
            raise ValueError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
        store = self._core.stores.transfer
        ids = store.ids() if conversation_ids is None else list(conversation_ids)
        trees = [store.dump(i) for i in ids]
        return write_document(trees, now()) if fmt == "json" else render_all(trees)

    def _import_now(self, text: str) -> list[Conversation]:
        trees = read_import(text, now())
        ids = self._core.stores.transfer.load(trees)
        return [self._core.stores.conversations.get(i) for i in ids]

    # the API -----------------------------------------------------------------
    async def export_conversations(
        self, conversation_ids: list[int] | None = None, fmt: str = "json"
    ) -> str:
        return await self._core.run(self._export_now, conversation_ids, fmt)

    async def import_conversations(self, text: str) -> list[Conversation]:
        return await self._core.run(self._import_now, text)
