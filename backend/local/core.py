"""What the local services share once the backend has started: settings,
the opened SQLite store, the knowledge base, the runtimes, and the lock
that lets one model call run at a time.

Every service gets the same ``Core`` in its constructor and reads its parts
when called, so services can be built before ``start`` (the TUI gets an
unstarted backend and the app starts it in the background) and a call made
too early fails with one clear error instead of an ``AttributeError``.

Every service method is async; database work runs in a worker thread
(``run``; the store serialises access with its own lock) and model work in
the reply's own thread, so a caller's event loop never blocks on I/O or a
model.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from backend.common.config import Settings, load_settings
from backend.common.locations import Locations
from backend.common.otlp import OtlpTraces
from backend.common.reply_gate import ReplyGate
from backend.knowledge.chats_index import ChatIndexStore
from backend.knowledge.chats_indexer import ChatIndexer
from backend.knowledge.embedder import Embedder
from backend.knowledge.embedder_fast import make_embedder
from backend.knowledge.service import KnowledgeBase
from backend.rag.eval_runs import EvalStore
from backend.runtimes.base import Runtime
from backend.runtimes.registry import UnavailableRuntime, discover_runtimes
from backend.store.conversations import ConversationStore
from backend.store.db import Database
from backend.store.memories import MemoryStore
from backend.store.migrations import migrate
from backend.store.requests import RequestLog
from backend.store.settings_store import PresetStore, StateStore
from backend.store.sources import SourceStore
from backend.store.summaries import SummaryStore
from backend.store.tool_calls import ToolCallStore
from backend.store.transfer import TransferStore

T = TypeVar("T")


class NotStartedError(RuntimeError):
    """A backend call before ``start()`` (a programming error, not a user's)."""


@dataclass(frozen=True)
class Stores:
    """The SQLite-backed stores, all on one connection."""

    db: Database
    conversations: ConversationStore
    requests: RequestLog
    sources: SourceStore
    presets: PresetStore
    state: StateStore
    tool_calls: ToolCallStore
    evals: EvalStore
    transfer: TransferStore
    summaries: SummaryStore
    memories: MemoryStore

    @classmethod
    def on(cls, db: Database, keep_full_text: bool = True) -> Stores:
        return cls(
            db=db,
            conversations=ConversationStore(db),
            requests=RequestLog(db, keep_full_text),
            sources=SourceStore(db),
            presets=PresetStore(db),
            state=StateStore(db),
            tool_calls=ToolCallStore(db),
            evals=EvalStore(db),
            transfer=TransferStore(db),
            summaries=SummaryStore(db),
            memories=MemoryStore(db),
        )


class Core:
    """See the module docstring. ``runtimes`` replaces plugin discovery
    (tests pass a ``FakeRuntime``); ``settings`` replaces reading
    ``config.toml``; ``embedder`` replaces the configured embedder."""

    def __init__(
        self,
        locations: Locations,
        settings: Settings | None = None,
        runtimes: list[Runtime] | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.locations = locations
        self.generation_lock = threading.Lock()
        """Held while a model generates: one model call at a time."""
        self.gate = ReplyGate(locations.home / "replying.lock")
        """Announces replies to background work here and in other processes."""
        self.unavailable: list[UnavailableRuntime] = []
        self._settings = settings
        self._runtimes = runtimes
        self._embedder = embedder
        self._stores: Stores | None = None
        self._kb: KnowledgeBase | None = None
        self.traces: OtlpTraces | None = None
        """Where chat turns' traces go; None unless ``[telemetry]`` names an
        endpoint."""
        self._chats: ChatIndexer | None = None

    # life cycle ------------------------------------------------------------
    def open(self) -> None:
        """Load config, open and migrate the database, find runtimes.

        Raises:
            ConfigError: config.toml is invalid (the message names the field).
            StoreError: the database cannot be opened or migrated.
        """
        self.locations.ensure()
        if self._settings is None:
            self._settings = load_settings(self.locations.config)
        db = Database(self.locations.database)
        try:
            migrate(db)
        except Exception:
            db.close()
            raise
        embedder = self._embedder
        if embedder is None:
            k = self._settings.knowledge
            embedder = make_embedder(
                k.embedding_backend,
                k.embedding_model_dir,
                batch_size=k.batch_size,
                gguf=k.embedding_gguf,
                ollama_url=k.ollama_url,
                ollama_model=k.ollama_embedding_model,
            )
        self._stores = Stores.on(db, self._settings.log.keep_full_text)
        self._apply_retention()
        t = self._settings.telemetry
        if t.otlp_endpoint is not None:
            self.traces = OtlpTraces(t, self.locations.logs / "telemetry.log")
            threading.Thread(target=self.traces.start, name="otlp-start", daemon=True).start()
        self._kb = KnowledgeBase(db, embedder, self.gate)
        kb = self._kb
        self._chats = ChatIndexer(ChatIndexStore(db), lambda: kb.embedder, self.gate)
        if self._runtimes is None:
            self._runtimes, self.unavailable = discover_runtimes(self._settings, self.locations)

    def _apply_retention(self) -> None:
        """Clear kept request texts older than ``[log] retention_days``."""
        days = self.settings.log.retention_days
        if days > 0:
            cutoff = datetime.now(UTC) - timedelta(days=days)
            self.stores.requests.inputs.purge(cutoff.isoformat(timespec="milliseconds"))

    def close(self) -> None:
        """Close the knowledge base, the runtimes and the database (the
        services have stopped what they own first)."""
        kb, stores, chats = self._kb, self._stores, self._chats
        self._kb = self._stores = self._chats = None
        if chats is not None:
            chats.close()
        if kb is not None:
            kb.close()
        with self.generation_lock:
            for rt in self._runtimes or []:
                rt.close()
        if stores is not None:
            stores.db.close()
        traces, self.traces = self.traces, None
        if traces is not None:
            traces.close()

    @contextlib.contextmanager
    def generating(self) -> Iterator[None]:
        """Held while a reply (or any model call the user waits for) runs:
        one at a time in this process, and background work on this data
        folder, in any process, stands aside (``ReplyGate``)."""
        with self.generation_lock, self.gate.reply():
            yield

    @property
    def started(self) -> bool:
        return self._stores is not None

    # parts -----------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        if self._settings is None:
            raise NotStartedError("Backend.start() has not run")
        return self._settings

    @property
    def stores(self) -> Stores:
        if self._stores is None:
            raise NotStartedError("Backend.start() has not run")
        return self._stores

    @property
    def kb(self) -> KnowledgeBase:
        if self._kb is None:
            raise NotStartedError("Backend.start() has not run")
        return self._kb

    def models_dirs(self) -> list[Path]:
        """Where pulled models are: the data folder's ``models/``, then
        ``models_dir`` when configured."""
        dirs = [self.locations.models]
        if self.settings.models_dir is not None:
            dirs.append(Path(self.settings.models_dir).expanduser())
        return dirs

    @property
    def chats(self) -> ChatIndexer:
        """The past-chats index and its background indexer."""
        if self._chats is None:
            raise NotStartedError("Backend.start() has not run")
        return self._chats

    @property
    def runtimes(self) -> list[Runtime]:
        return list(self._runtimes or [])

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a worker thread.

        Raises:
            NotStartedError: the backend has not started (or has closed).
        """
        if self._stores is None:
            raise NotStartedError("Backend.start() has not run")
        return await asyncio.to_thread(partial(fn, *args, **kwargs))
