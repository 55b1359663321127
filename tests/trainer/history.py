"""Build chat histories through the public facade, as a user would: send a
question, get the (scripted) reply, then thumb it, edit it or regenerate it."""

from __future__ import annotations

from dataclasses import dataclass

from backend import Backend
from backend.runtimes.base import ChatMessage


@dataclass(frozen=True)
class Exchange:
    question: str
    answer: str
    """What the scripted runtime replies."""
    edit: str | None = None
    rating: int = 0
    regenerate_rating: int | None = None
    """Regenerate the reply and rate the new sibling this (the first keeps ``rating``)."""
    regenerated: str | None = None
    """What the regeneration says (default: the answer with " (again)")."""


class ScriptedAnswers:
    """A FakeRuntime responder: the scripted answer for the last question;
    a regeneration gets ``again[question]`` if set, else the answer with
    " (again)" appended."""

    def __init__(self) -> None:
        self.answers: dict[str, str] = {}
        self.again: dict[str, str] = {}
        self.asked: dict[str, int] = {}

    def __call__(self, messages: list[ChatMessage]) -> str:
        q = next(m.content for m in reversed(messages) if m.role == "user")
        n = self.asked.get(q, 0)
        self.asked[q] = n + 1
        if n and q in self.again:
            return self.again[q]
        return self.answers[q] + (" (again)" * n)


async def add_chat(backend: Backend, script: ScriptedAnswers, chat: list[Exchange]) -> int:
    """One conversation; returns its id."""
    cid: int | None = None
    for ex in chat:
        script.answers[ex.question] = ex.answer
        script.asked[ex.question] = 0
        if ex.regenerated is not None:
            script.again[ex.question] = ex.regenerated
        stream = await backend.chat.send(cid, ex.question)
        await stream.collect()
        cid = stream.conversation_id
        reply = (await backend.conversations.thread(cid))[-1]
        if ex.rating:
            await backend.conversations.rate(reply.id, ex.rating)
        if ex.edit is not None:
            await backend.conversations.edit_reply(reply.id, ex.edit)
        if ex.regenerate_rating is not None:
            await (await backend.chat.regenerate(reply.id)).collect()
            again = (await backend.conversations.thread(cid))[-1]
            await backend.conversations.rate(again.id, ex.regenerate_rating)
    assert cid is not None
    return cid
