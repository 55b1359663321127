"""The memory half of a chat turn: which memories the model is given, where
they go in the prompt, and the "remember that ..." rule.

Decisions (measured in ``benchmarks/memory_ttft.py``, README "Memory"):

- **Where.** Memories go in the system message, after the conversation's
  system prompt and before the conversation, so they are part of the
  prefix llama.cpp keeps in its KV cache.
- **Which, and when.** A conversation *pins* its memories: the first turn
  whose question finds relevant memories chooses them (the top
  ``[memory] top_k`` by cosine similarity of the question and each memory,
  above ``min_score``, within ``max_tokens``), and every later turn reuses
  that set, so the system message is byte-identical from turn to turn and
  the cached prefix is reused. Choosing per question instead would change
  the first message of the prompt on most turns and re-process the whole
  conversation each time. The cost: a later question on another topic
  does not bring new memories into that conversation (a new chat does).
- **Writing.** A message that *starts* with "remember that ..." (or
  "remember: ...", "please remember ...", "don't forget that ...") and is
  not a question is saved as a memory with the message as its source. The
  rule reads only the user's own typed message, never retrieved text or
  tool output, so a document cannot plant a memory through it; the model
  writes memories only through the ``remember`` tool (a side-effect tool:
  confirmed, and confirmed again whenever untrusted text is in play) or
  through proposals the user approves one by one.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

import numpy as np

from backend.common.events import MemoryRef
from backend.knowledge.embedder import Embedder
from backend.knowledge.injection import neutralise
from backend.store.memories import MAX_MEMORY_CHARS, MemoryStore
from backend.store.records import Memory

_REMEMBER = re.compile(
    r"^\s*(?:please\s+|pls\s+|hey\s*,?\s+)?"
    r"(?:remember(?:\s+that|\s*:|\s*,)|don'?t\s+forget(?:\s+that|\s*:)|keep\s+in\s+mind\s+that)"
    r"\s*(?P<fact>.+?)\s*$",
    re.IGNORECASE | re.DOTALL,
)
HEADER = "What the user has told you about themselves (use it when it is relevant):"


def remember_request(text: str) -> str | None:
    """The fact a message asks to remember ("remember that I prefer metric
    units" -> "I prefer metric units"), or None when it does not ask."""
    m = _REMEMBER.match(text)
    if m is None:
        return None
    fact = " ".join(m["fact"].split()).rstrip(".! ")
    if not fact or fact.endswith("?") or len(fact) > MAX_MEMORY_CHARS:
        return None
    return fact[0].upper() + fact[1:]


def token_estimate(text: str) -> int:
    """About 4 characters a token, plus the list marker."""
    return len(text) // 4 + 2


def memory_block(memories: list[Memory]) -> str:
    """The system-message part that carries ``memories`` ("" when none)."""
    if not memories:
        return ""
    lines = [f"- {neutralise(m.text)}" for m in memories]
    return "\n".join([HEADER, *lines])


def refs(memories: list[Memory]) -> tuple[MemoryRef, ...]:
    return tuple(MemoryRef(m.id, m.text) for m in memories)


@dataclass(frozen=True)
class Selection:
    top_k: int = 5
    min_score: float = 0.35
    max_tokens: int = 120


class MemoryIndex:
    """Relevance over the memory store with one embedder (vectors cached in
    the store, computed for new or edited memories on first use)."""

    def __init__(self, store: MemoryStore, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder
        self._lock = threading.Lock()

    def _vectors(self) -> tuple[list[Memory], np.ndarray | None]:
        with self._lock:
            name = self.embedder.name
            done, vecs, todo = self.store.vectors(name)
            if todo:
                new = self.embedder.embed([m.text for m in todo])
                self.store.set_vectors(name, [m.id for m in todo], new)
                done, vecs, _ = self.store.vectors(name)
            return done, vecs

    def scored(self, text: str) -> list[tuple[Memory, float]]:
        """Every memory with its similarity to ``text``, best first."""
        memories, vecs = self._vectors()
        if vecs is None or not text.strip():
            return []
        query = self.embedder.embed_queries([text])[0]
        scores = vecs @ np.asarray(query, dtype=np.float32)
        order = np.argsort(-scores)
        return [(memories[i], float(scores[i])) for i in order]

    def relevant(self, text: str, selection: Selection) -> list[Memory]:
        """The memories to give the model for ``text``: best first, at most
        ``top_k``, each above ``min_score``, together within ``max_tokens``."""
        chosen: list[Memory] = []
        used = 0
        for memory, score in self.scored(text):
            if score < selection.min_score or len(chosen) >= selection.top_k:
                break
            cost = token_estimate(memory.text)
            if used + cost > selection.max_tokens:
                continue
            chosen.append(memory)
            used += cost
        return chosen


@dataclass
class MemoryTurn:
    """What the turn does with memory (None on the plan: incognito or off)."""

    memories: list[Memory] = field(default_factory=list)
    """Given to the model in the system message."""
    saved: Memory | None = None
    """Written from this turn's message ("remember that ...")."""
    store: MemoryStore | None = None
    """Where the reply's use is recorded."""

    @property
    def system_text(self) -> str:
        return memory_block(self.memories)


def memory_text(turn: MemoryTurn | None) -> str:
    return turn.system_text if turn is not None else ""


def pinned_memories(
    index: MemoryIndex, conversation_id: int, question: str, selection: Selection
) -> list[Memory]:
    """The conversation's memories: its pinned set, or (until one is pinned)
    the memories relevant to ``question``, pinned when there are any."""
    pinned = index.store.pinned(conversation_id)
    kept = index.store.many(pinned) if pinned else []
    if kept:
        return kept
    chosen = index.relevant(question, selection)
    if chosen:
        index.store.pin(conversation_id, [m.id for m in chosen])
    return chosen
