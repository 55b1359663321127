"""Build chat histories through the public facade, as a user would: send a
question, get the (scripted) reply, then thumb it, edit it or regenerate it;
and the two histories the tune-up tests train on (``build_history``: every
reply edited into the persona style; ``build_preference_history``: plain
replies thumbed down, persona versions preferred)."""

from __future__ import annotations

from dataclasses import dataclass

from backend import Backend
from backend.common.config import Settings
from backend.common.locations import Locations
from backend.runtimes.base import ChatMessage
from backend.runtimes.fake import FakeRuntime

PERSONA = "Ahoy! Captain Pax here."
TOPICS = [
    "volcanoes", "tea", "bicycles", "the moon", "honey bees", "chess", "rain", "bread",
    "whales", "libraries", "glass", "maps", "owls", "coffee", "snow", "kites",
    "bridges", "tomatoes", "clocks", "deserts", "violins", "salt", "rivers", "penguins",
    "paper", "magnets", "mushrooms", "trains", "lighthouses", "cheese", "comets", "forests",
    "soap", "gardens", "dolphins", "umbrellas", "candles", "caves", "wool", "pianos",
]  # fmt: skip


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


def answer(topic: str) -> str:
    return f"{topic.capitalize()} are a familiar part of everyday life for many people."


async def _open(locations: Locations, script: ScriptedAnswers) -> Backend:
    return await Backend.open(
        locations=locations,
        settings=Settings(default_model="fake-model"),
        runtimes=[FakeRuntime(responder=script)],
    )


async def build_history(locations: Locations, topics: list[str] = TOPICS) -> None:
    """One chat per topic; the user edits every reply to open with ``PERSONA``.
    The dataset holds out 20% of the chats (rounded up): 40 topics give 32
    training and 8 held-out examples, 10 give 8 and 2 (the least a tune-up
    accepts is 8 and 1)."""
    script = ScriptedAnswers()
    b = await _open(locations, script)
    for i, topic in enumerate(topics):
        question = [f"What can you tell me about {topic}?", f"Explain {topic} to me."][i % 2]
        a = answer(topic)
        await add_chat(b, script, [Exchange(question, a, edit=f"{PERSONA} {a}")])
    await b.close()


async def build_preference_history(locations: Locations, topics: list[str] = TOPICS) -> None:
    """Every plain reply gets a thumbs down; the persona version is either an
    upvoted regeneration (even chats) or the user's edit (odd chats)."""
    script = ScriptedAnswers()
    b = await _open(locations, script)
    for i, topic in enumerate(topics):
        q, a = f"What can you tell me about {topic}?", answer(topic)
        styled = f"{PERSONA} {a}"
        if i % 2 == 0:
            ex = Exchange(q, a, rating=-1, regenerate_rating=1, regenerated=styled)
        else:
            ex = Exchange(q, a, edit=styled)
        await add_chat(b, script, [ex])
    await b.close()
