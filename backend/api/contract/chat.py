"""Contract: sending messages and streaming replies."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from backend.chat.reply import ReplyStream


class ChatAPI(Protocol):
    """Replies: each streams ``ChatEvent``s (see ``backend.common.events``)."""

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
    ) -> ReplyStream:
        """Add a user message at the end of the active branch and stream the
        reply. ``conversation_id`` None starts a new conversation titled from
        the message; ``model`` switches the conversation's model first;
        ``folder_ids`` limits the documents searched for this question;
        ``tools`` switches tool calling on or off for this question only
        (None: the conversation's setting).

        ``schema`` (a JSON Schema) makes this reply structured output: the
        system prompt asks for JSON following it, sampling is constrained to
        it where the runtime can (a llama.cpp grammar, Ollama's ``format``,
        OpenAI's ``response_format``), documents and tools are off for this
        reply, and the finished reply is parsed and validated: one that is
        not valid JSON for the schema (or was cut at the token limit) ends
        with an ``ErrorEvent`` titled "Invalid structured output" and is
        stored with status ``error``, never passed off as valid.

        ``source`` forces where the answer comes from (``documents``,
        ``chats``, ``memory``, ``none``, ``tool`` or ``tool:<name>``);
        without it a leading ``@docs``/``@chats``/``@memory``/``@none``/
        ``@tool[:name]`` token in ``text`` does the same (and is removed),
        and otherwise the source router decides (``backend.chat.routing``);
        the decision is the ``SourceRouted`` event.

        Raises:
            ValueError: an empty message, or an unknown ``source``.
            SchemaError: ``schema`` is not a valid JSON Schema (nothing is
                written).
            ModelError: the model is not available (nothing is written).
            NotFoundError: no such conversation.
        """
        ...

    async def regenerate(self, message_id: int) -> ReplyStream:
        """Answer again: a new reply beside ``message_id`` (an assistant
        reply) or under it (a user message left without a reply)."""
        ...

    async def edit_and_resend(self, message_id: int, text: str) -> ReplyStream:
        """A new version of a user message, as a sibling branch, answered anew."""
        ...

    def cancel(self, conversation_id: int) -> None:
        """Stop the reply being generated in this conversation, if any."""
        ...

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
        """Source-routing accuracy on a labelled question set
        (``backend.chat.routing_eval``): ``{"n", "accuracy", "per_source",
        "confusion", "plain", "plain_any_tool_rate",
        "plain_side_effect_rate", ..., "cases"}``; nothing is answered or
        run. ``use_model`` False: no model call when unsure (the default
        source instead).

        Raises:
            RoutingCaseError: a line of the file is malformed.
            OSError: the file cannot be read.
        """
        ...
