"""``Backend``: the assistant's backend embedded in the calling process.

It implements ``backend.api.contract.AssistantAPI`` by composition: one
service object per domain, built here in the constructor and sharing one
``Core`` (the store, settings, runtimes and the generation lock). Nothing
is opened until ``start()``; the TUI is handed an unstarted backend and
starts it in the background, so it is interactive at once.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from backend.common.config import Settings
from backend.common.locations import Locations, default_locations
from backend.knowledge.embedder import Embedder
from backend.local.chat import ChatService
from backend.local.completions import CompletionService
from backend.local.conversations import ConversationService
from backend.local.core import Core
from backend.local.documents import DocumentService
from backend.local.evaluation import EvaluationService
from backend.local.library import LibraryService
from backend.local.memory import MemoryService
from backend.local.models import ModelService
from backend.local.replies import ActiveReplies
from backend.local.telemetry import TelemetryService
from backend.local.tools import ToolService
from backend.local.transfer import TransferService
from backend.local.tuneups import TuneupService
from backend.runtimes.base import Runtime
from backend.runtimes.registry import UnavailableRuntime

if TYPE_CHECKING:
    from backend.api.contract import AssistantAPI


class Backend:
    """Use ``await Backend.open()`` (or construct, then ``await start()``)
    and ``await close()`` when done. ``runtimes`` replaces plugin discovery
    (tests pass a ``FakeRuntime``); ``settings`` replaces reading
    ``config.toml``; ``embedder`` replaces the configured embedder."""

    def __init__(
        self,
        locations: Locations | None = None,
        settings: Settings | None = None,
        runtimes: list[Runtime] | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.core = Core(locations or default_locations(), settings, runtimes, embedder)
        replies = ActiveReplies()
        self._replies = replies
        self.models = ModelService(self.core)
        self.library = LibraryService(self.core)
        self.conversations = ConversationService(self.core, self.models, replies)
        self.telemetry = TelemetryService(self.core, self.models)
        self.documents = DocumentService(self.core, self.models)
        self.tools = ToolService(self.core, self.models)
        self.memory = MemoryService(self.core, self.models)
        self.chat = ChatService(
            self.core,
            replies,
            self.conversations,
            self.models,
            self.documents,
            self.tools,
            self.memory,
        )
        self.evaluation = EvaluationService(
            self.core, self.models, self.documents, self.conversations, self.chat
        )
        self.tuneups = TuneupService(self.core, self.models)
        self.transfer = TransferService(self.core)
        self.completions = CompletionService(self.core, self.models, self.documents, self.tools)

    @classmethod
    async def open(cls, **kwargs: Any) -> Backend:
        backend = cls(**kwargs)
        await backend.start()
        return backend

    async def start(self) -> None:
        """Load config, open and migrate the database, find runtimes.

        Raises:
            ConfigError: config.toml is invalid (the message names the field).
            StoreError: the database cannot be opened or migrated.
        """
        await asyncio.to_thread(self.core.open)
        self.core.chats.schedule()  # past chats not indexed yet (none: no model load)

    async def close(self) -> None:
        """Stop replies and the tune-up (nobody would follow them), the MCP
        servers, then close the store and runtimes."""
        self._replies.cancel_all()
        self.tuneups.cancel_tuneup()

        def shutdown() -> None:
            self.tools.close()
            self.core.close()

        await asyncio.to_thread(shutdown)

    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def unavailable(self) -> list[UnavailableRuntime]:
        return self.core.unavailable

    @property
    def locations(self) -> Locations:
        return self.core.locations

    @property
    def runtimes(self) -> list[Runtime]:
        return self.core.runtimes


if TYPE_CHECKING:

    def _implements_the_contract(backend: Backend) -> AssistantAPI:
        return backend  # mypy checks every service against its Protocol here
