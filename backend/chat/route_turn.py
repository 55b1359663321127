"""The routing step of a chat turn: decide the source before anything is
retrieved or called, announce it, and log it.

``run_turn`` calls ``route_question`` first; the decision
(``SourceRouted``) says which of the turn's parts run: retrieval only for
``documents``, the tool loop only for ``tool`` (and then only with the
tools the decision names). ``chats`` and ``memory`` are decided here too;
their search is plugged in by the services that own those stores
(``RouteTurn.consult``), and until then the reply is written by the model
alone, the decision still shown and logged.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from backend.chat.routing import Routed, SourceRouter
from backend.common.events import SourceRouted
from backend.runtimes.base import ChatMessage

if TYPE_CHECKING:
    from backend.chat.turn import TurnPlan
    from backend.common.events import ChatEvent
    from backend.store.requests import RequestLog

Consult = Callable[[SourceRouted, str], str | None]
"""A source's search for a question: the fenced context to put in front
of it (None: nothing found). Registered for ``chats`` and ``memory``."""


@dataclass
class RouteTurn:
    """What the turn needs to route its question."""

    router: SourceRouter
    available: dict[str, str]
    """Source -> label, for the sources this conversation can consult."""
    force: str | None = None
    """A ``force_token`` (``documents``, ``tool:calculator``, ...)."""
    consult: dict[str, Consult] = field(default_factory=dict)
    """Search hooks for ``chats``/``memory`` (the stores that own them plug in)."""
    probe: Callable[[str], float] | None = None
    """Best passage cosine in the documents in scope (``SourceRouter.route``)."""
    routed: Routed | None = None


def route_question(
    plan: TurnPlan,
    route: RouteTurn,
    history: list[ChatMessage],
    emit: Callable[[ChatEvent], None],
    cancel: threading.Event,
) -> SourceRouted:
    """Decide the source for the last user message of ``history``; emits
    ``SourceRouted`` and keeps the decision on ``route``."""
    asked = [m.content for m in history if m.role == "user"]
    question = asked[-1] if asked else ""
    previous = asked[-2] if len(asked) > 1 else None
    tools = plan.tools.tools if plan.tools is not None else []
    routed = route.router.route(
        question,
        route.available,
        tools=tools,
        previous=previous,
        force=route.force,
        runtime=plan.runtime,
        model=plan.model,
        cancel=cancel,
        probe=route.probe,
    )
    route.routed = routed
    emit(routed.event)
    return routed.event


def record_route_stage(
    route: RouteTurn,
    requests: RequestLog,
    plan: TurnPlan,
    reply_id: int,
    generate_request_id: int,
) -> None:
    """One ``route`` row under the generate row: the decision and its reason."""
    routed = route.routed
    if routed is None:
        return
    e = routed.event
    model_call = routed.usage is not None
    requests.record(
        runtime=plan.runtime.name if model_call else "router",
        model=plan.model.name if model_call else "",
        usage=routed.usage,
        total_ms=routed.ms,
        stop_reason="stop",
        conversation_id=plan.conversation_id,
        message_id=reply_id,
        stage="route",
        parent_request_id=generate_request_id,
        detail=json.dumps(
            {
                "source": e.source,
                "reason": e.reason,
                "label": e.label,
                "forced": e.forced,
                "tools": list(e.tools),
                "scores": e.scores,
            },
            ensure_ascii=False,
        ),
        inputs=routed.inputs,
    )
