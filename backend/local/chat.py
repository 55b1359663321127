"""The chat service: a user message in, a streamed reply out.

A reply is planned in a worker thread (the user message is stored, the
model resolved, documents and tools decided: ``TurnPlan``) and then
generated in the reply's own thread by ``backend.chat.turn.run_turn``,
bridged to asyncio by ``ChatStream``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path, PurePath
from typing import Any

from backend.chat.chats_grounding import ChatsTurn, wants_chats
from backend.chat.grounding import RagTurn
from backend.chat.memory import memory_text
from backend.chat.prompt_catalog import builtin, system_part, template_part
from backend.chat.route_turn import Consult, RouteTurn
from backend.chat.routing import SourceRouter, check_force, force_token
from backend.chat.routing_cues import CUES, SOURCES
from backend.chat.routing_eval import case_row, load_routing_cases, summarize_routing
from backend.chat.stream import ChatStream
from backend.chat.structured import check_schema, schema_instruction
from backend.chat.turn import TurnPlan, run_turn
from backend.common.errors import NotFoundError
from backend.knowledge.search import dense_ids
from backend.local.conversations import ConversationService, title_from
from backend.local.core import Core
from backend.local.documents import DocumentService
from backend.local.memory import MemoryService
from backend.local.models import ModelService
from backend.local.replies import ActiveReplies
from backend.local.tools import ToolService
from backend.runtimes.base import GenerationParams
from backend.store.records import Conversation, Memory, Message, Preset

SourceCheck = Callable[[Conversation], str | None]
"""Whether a source (``chats``, ``memory``) can be consulted in a
conversation: its label, or None when not."""


class ChatService:
    """Implements ``backend.api.contract.ChatAPI``."""

    def __init__(
        self,
        core: Core,
        replies: ActiveReplies,
        conversations: ConversationService,
        models: ModelService,
        documents: DocumentService,
        tools: ToolService,
        memory: MemoryService,
    ) -> None:
        self._core = core
        self._replies = replies
        self._conversations = conversations
        self._models = models
        self._documents = documents
        self._tools = tools
        self._memory = memory
        self._router: SourceRouter | None = None
        self._router_lock = threading.Lock()
        self.source_checks: dict[str, SourceCheck] = {}
        """Availability of the sources other services own (``chats``,
        ``memory``): the memory and past-chats services register here."""
        self.source_consults: dict[str, Consult] = {}
        """Their search, given the decision and the question (``RouteTurn.consult``)."""

    # routing -----------------------------------------------------------------
    def router(self) -> SourceRouter:
        """The source router (built once; shares the tool router's cache)."""
        with self._router_lock:
            if self._router is None:
                self._router = SourceRouter(self._core.kb.embedder, self._tools.router())
            return self._router

    def _documents_label(self, scope: list[int] | None) -> str:
        folders = self._core.kb.store.folders()
        names = [PurePath(f.path).name for f in folders if scope is None or f.id in scope]
        return ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")

    def _probe(self, scope: list[int] | None) -> Callable[[str], float]:
        kb = self._core.kb

        def best_passage(question: str) -> float:
            try:
                hits = dense_ids(kb.store, kb.embedder, question, 1, scope)
            except Exception:  # a mismatched index: retrieval reports it, not routing
                return 0.0
            return hits[0][1] if hits else 0.0

        return best_passage

    def available_sources(
        self, conv: Conversation, rag: RagTurn | None, has_tools: bool
    ) -> dict[str, str]:
        """Source -> label for the sources ``conv`` can consult now."""
        out: dict[str, str] = {}
        if rag is not None:
            out["documents"] = self._documents_label(rag.folder_ids)
        for source, check in self.source_checks.items():
            label = check(conv)
            if label is not None:
                out[source] = label
        if has_tools:
            out["tool"] = ""
        return out

    def _plan(
        self,
        conversation_id: int,
        parent_id: int,
        user_id: int | None,
        folder_ids: list[int] | None = None,
        tools: bool | None = None,
        schema: str | None = None,
        saved: Memory | None = None,
        source: str | None = None,
    ) -> TurnPlan:
        stores = self._core.stores
        conv = stores.conversations.get(conversation_id)
        if source is not None and source.split(":")[0] == "tool" and tools is None:
            tools = True  # @tool turns tools on for this question
        runtime, model = self._models.resolve(conv.model)
        g = self._core.settings.generation
        rag = None
        chats = None
        system = conv.system_prompt
        prompts = []
        if system.strip():
            prompts.append(system_part(system, conv.preset, self._preset(conv.preset)))
        asking = stores.conversations.message(parent_id)  # the message being answered
        memory = self._memory.turn_for(conv, asking.content, saved)
        # Memories first, right after the conversation's own system prompt:
        # a pinned set keeps this part byte-identical turn after turn. (They
        # are the user's data, not a prompt version: not in ``prompts``.)
        system = "\n\n".join(t for t in (system.strip(), memory_text(memory)) if t)
        asked = source == "chats" or (source is None and _asks_about_past_chats(asking))
        if schema is None and not conv.incognito and (asked or _chats_cue(asking)):
            # past chats are a candidate only when the question points at
            # them (``@chats``, "what did we decide...", "you told me..."):
            # the router then shows and records the choice
            summary = stores.summaries.get(conversation_id)
            through = summary.through_message_id if summary else None
            chats = ChatsTurn(self._core.chats, stores.sources, include_through=through)
            if asked and source is None:
                source = "chats"
        if schema is not None:
            prompts += builtin("structured.instruction")
            # A JSON answer has no room for citations, and a tool decision
            # is a JSON answer of its own: both are off for this reply.
            system = "\n\n".join(t for t in (system.strip(), schema_instruction(schema)) if t)
        elif self._documents.enabled_for(conv) or source == "documents":
            scope = folder_ids if folder_ids is not None else conv.folder_scope
            rag = RagTurn(self._documents.pipeline, self._core.stores.sources, scope)
        turn_tools = None if schema is not None else self._tools.turn_for(conv, tools)
        remember = self._memory.remember_tool(conv) if turn_tools is not None else None
        if turn_tools is not None and remember is not None and saved is None:
            turn_tools.tools.append(remember)  # not when the rule already saved it
        route = None
        if schema is None:
            if source is None and folder_ids is not None and rag is not None:
                source = "documents"  # an @folder question searches that folder
            available = self.available_sources(conv, rag, turn_tools is not None)
            if chats is not None:
                available["chats"] = "past chats"
            if memory is not None and memory.memories:
                n = len(memory.memories)
                available["memory"] = f"{n} memor{'y' if n == 1 else 'ies'}"
            if available or source is not None:
                route = RouteTurn(
                    self.router(),
                    available,
                    source,
                    dict(self.source_consults),
                    probe=self._probe(rag.folder_ids) if rag is not None else None,
                )
        return TurnPlan(
            conversation_id=conversation_id,
            parent_id=parent_id,
            user_message_id=user_id,
            runtime=runtime,
            model=model,
            params=GenerationParams(
                max_tokens=g.max_tokens,
                temperature=g.temperature,
                top_p=g.top_p,
                seed=g.seed,
                json_schema=schema,
            ),
            system_prompt=system,
            rag=rag,
            tools=turn_tools,
            memory=memory,
            prompts=prompts,
            template=template_part(runtime, model),
            chats=chats,
            summaries=stores.summaries if schema is None else None,
            route=route,
        )

    def _preset(self, name: str | None) -> Preset | None:
        if not name:
            return None
        try:
            return self._core.stores.presets.get(name)
        except NotFoundError:
            return None

    def _stream(self, plan: TurnPlan) -> ChatStream:
        stores = self._core.stores
        turn = partial(
            run_turn,
            plan,
            stores.conversations,
            stores.requests,
            self._replies.trim_state(plan.conversation_id),
            self._core.generating,
            traces=self._core.traces,
        )
        chats = self._core.chats

        def producer(emit: Any, cancel: Any) -> None:
            try:
                turn(emit, cancel)
            finally:
                chats.schedule()  # index the new turn in the background

        approvals = plan.tools.approvals if plan.tools is not None else None
        stream = ChatStream(plan.conversation_id, producer, approvals)
        self._replies.streams[plan.conversation_id] = stream
        return stream

    def _send_now(
        self,
        conversation_id: int | None,
        text: str,
        model: str | None,
        folder_ids: list[int] | None,
        tools: bool | None,
        schema: dict[str, Any] | None = None,
        source: str | None = None,
    ) -> TurnPlan:
        if source is None:
            source, text = force_token(text)
        if source is not None:
            check_force(source)
        if not text.strip():
            raise ValueError("cannot send an empty message")
        schema_text = None if schema is None else check_schema(schema)
        store = self._core.stores.conversations
        # Resolve the model before writing anything: a failed send leaves no
        # stray conversation or message behind.
        if conversation_id is None:
            self._models.resolve(model)
            conversation_id = self._conversations.create_now(title_from(text), model, None).id
        else:
            self._models.resolve(model or store.get(conversation_id).model)
            if model is not None:
                store.update(conversation_id, model=model)
        conv = store.get(conversation_id)
        thread = store.thread(conversation_id)
        if not thread and conv.title == "New chat":
            store.update(conversation_id, title=title_from(text))
        parent = thread[-1].id if thread else None
        user_id = store.add_message(conversation_id, parent, "user", text)
        saved = self._memory.remember_request(conv, text, user_id)
        return self._plan(
            conversation_id, user_id, user_id, folder_ids, tools, schema_text, saved, source
        )

    def _regenerate_now(self, message_id: int) -> TurnPlan:
        msg = self._core.stores.conversations.message(message_id)
        if msg.role == "assistant":
            if msg.parent_id is None:
                raise ValueError("this reply has no question to answer again")
            return self._plan(msg.conversation_id, msg.parent_id, None)
        if msg.role == "user":
            return self._plan(msg.conversation_id, msg.id, None)
        raise ValueError(f"cannot regenerate a {msg.role} message")

    def _edit_now(self, message_id: int, text: str) -> TurnPlan:
        if not text.strip():
            raise ValueError("cannot send an empty message")
        store = self._core.stores.conversations
        msg = store.message(message_id)
        if msg.role != "user":
            raise ValueError("only your own messages can be edited and resent")
        user_id = store.add_message(msg.conversation_id, msg.parent_id, "user", text)
        conv = store.get(msg.conversation_id)
        saved = self._memory.remember_request(conv, text, user_id)
        return self._plan(msg.conversation_id, user_id, user_id, saved=saved)

    # the API -----------------------------------------------------------------
    async def send(
        self,
        conversation_id: int | None,
        text: str,
        *,
        model: str | None = None,
        folder_ids: list[int] | None = None,
        tools: bool | None = None,
        schema: dict[str, Any] | None = None,
        source: str | None = None,
    ) -> ChatStream:
        plan = await self._core.run(
            self._send_now, conversation_id, text, model, folder_ids, tools, schema, source
        )
        return self._stream(plan)

    async def regenerate(self, message_id: int) -> ChatStream:
        return self._stream(await self._core.run(self._regenerate_now, message_id))

    async def edit_and_resend(self, message_id: int, text: str) -> ChatStream:
        return self._stream(await self._core.run(self._edit_now, message_id, text))

    def cancel(self, conversation_id: int) -> None:
        self._replies.cancel(conversation_id)

    async def eval_routing(
        self,
        path: str | Path,
        *,
        model: str | None = None,
        limit: int | None = None,
        use_model: bool = True,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            cases = load_routing_cases(path)
            cases = cases[:limit] if limit else cases
            runtime, info = self._models.resolve(model)
            tools = self._tools.all_tools()
            side_effects = {t.name for t in tools if t.side_effects}
            available = {s: "" for s in SOURCES}
            router = self.router()
            rows = []
            for i, case in enumerate(cases, 1):
                if cancel is not None and cancel.is_set():
                    break
                routed = router.route(
                    case.q,
                    available,
                    tools=tools,
                    runtime=runtime if use_model else None,
                    model=info,
                    cancel=cancel,
                )
                rows.append(case_row(case, routed.event, side_effects))
                if progress is not None:
                    progress(i, len(cases))
            return {
                **summarize_routing(rows),
                "model": info.name if use_model else None,
                "cases": rows,
            }

        return await self._core.run(run)


def _chats_cue(msg: Message) -> bool:
    """The router's own cue for past chats ("we discussed", "you told me")."""
    return msg.role == "user" and any(
        c.source == "chats" and c.pattern.search(msg.content) for c in CUES
    )


def _asks_about_past_chats(msg: Message) -> bool:
    """``@chats``, or a clear cue ("what did we decide about ...") in the
    question being answered."""
    if msg.role != "user":
        return False
    wanted, question = wants_chats(msg.content)
    return wanted and bool(question.strip())
