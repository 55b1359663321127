"""The model proposes memories after a conversation; the user approves each.

The proposal prompt shows the model the user's *own* messages only (never
the replies, retrieved documents or tool output), so a document cannot
plant a proposal even by being quoted back in a reply. Proposals are never
saved by themselves: the front end shows each and saves the ones the user
approves (``MemoryAPI.add_memory(source="model")``). When documents or tool
output were in the conversation, each proposal carries that provenance and
the UI shows it, as it does for a side-effect tool call.

Small models propose badly (``benchmarks/memory_proposals.py``: the bundled
135M model), so ``model_writes = "auto"`` turns proposals and the
``remember`` tool on only for models of ``min_params_b`` billion parameters
or more (``params_billions``).
"""

from __future__ import annotations

import re
import threading

from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import ChatMessage, GenerationParams, GenerationRequest, Runtime
from backend.store.memories import MAX_MEMORY_CHARS
from backend.store.records import Memory, Message

MAX_PROPOSALS = 5
MAX_USER_CHARS = 4000
"""The newest user messages up to this length are shown to the model."""
PROMPT = (
    "Here are messages a user wrote in a conversation with you.\n\n{messages}\n\n"
    "List the facts about the user or their preferences worth remembering for future "
    "conversations (their job, projects, people they mention, units, language, tastes). "
    "Write one short fact per line, starting with '- '. Only facts the user stated "
    "about themselves. If there are none, write NONE."
)
_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([mb])(?![a-z])", re.IGNORECASE)
_BYTES_PER_PARAM_Q4 = 0.6
"""About what a 4-bit GGUF takes per parameter (with its embeddings)."""


def params_billions(model: ModelInfo) -> float | None:
    """The model's size in billions of parameters: from its name
    ("qwen2.5-7b-instruct" -> 7, "smollm2-135m" -> 0.135), else estimated
    from its file size as a 4-bit GGUF; None when unknown."""
    for m in _SIZE.finditer(model.name):
        value = float(m[1])
        return value if m[2].lower() == "b" else value / 1000
    if model.size_bytes:
        return model.size_bytes / _BYTES_PER_PARAM_Q4 / 1e9
    return None


def model_writes(setting: str, model: ModelInfo, min_params_b: float) -> bool:
    """Whether the model may propose memories and call ``remember``."""
    if setting != "auto":
        return setting == "on"
    size = params_billions(model)
    if size is None:  # a served model of unknown size: assume a capable one
        return model.path is None
    return size >= min_params_b


def proposal_prompt(thread: list[Message]) -> str | None:
    """The proposal request for a thread, or None when the user said nothing."""
    said = [m.content.strip() for m in thread if m.role == "user" and m.content.strip()]
    if not said:
        return None
    kept: list[str] = []
    used = 0
    for text in reversed(said):
        if used + len(text) > MAX_USER_CHARS and kept:
            break
        kept.append(text[:MAX_USER_CHARS])
        used += len(text)
    lines = "\n".join(f"- {' '.join(t.split())}" for t in reversed(kept))
    return PROMPT.format(messages=lines)


def parse_proposals(reply: str, known: list[Memory]) -> list[str]:
    """The facts in a proposal reply: one per ``- `` line, without
    duplicates of each other or of ``known`` memories, at most
    ``MAX_PROPOSALS``."""
    seen = {" ".join(m.text.split()).casefold() for m in known}
    out: list[str] = []
    for line in reply.splitlines():
        line = line.strip()
        if not re.match(r"^(?:[-*•]|\d+[.)])\s+", line):
            continue
        fact = re.sub(r"^(?:[-*•]|\d+[.)])\s+", "", line).strip().rstrip(".")
        if not fact or fact.upper() == "NONE" or len(fact) > MAX_MEMORY_CHARS:
            continue
        key = " ".join(fact.split()).casefold()
        if key in seen:
            continue
        seen.add(key)
        out.append(fact)
        if len(out) >= MAX_PROPOSALS:
            break
    return out


def propose(
    runtime: Runtime,
    model: ModelInfo,
    thread: list[Message],
    known: list[Memory],
    cancel: threading.Event | None = None,
) -> list[str]:
    """Ask the model for memories worth keeping from ``thread``."""
    prompt = proposal_prompt(thread)
    if prompt is None:
        return []
    request = GenerationRequest(
        model,
        [ChatMessage("user", prompt)],
        GenerationParams(max_tokens=160, temperature=0.0, top_p=1.0, seed=0),
    )
    from backend.common.events import TextDelta

    parts = [
        e.text
        for e in runtime.stream(request, cancel or threading.Event())
        if isinstance(e, TextDelta)
    ]
    return parse_proposals("".join(parts), known)
