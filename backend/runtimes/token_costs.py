"""Per-message prompt costs from one rendering of the whole conversation.

History trimming needs what each message costs in the real prompt,
template framing included, and the sum must equal the prompt's length. So
the conversation is rendered once (with the generation prompt), cut after
each message's content, and each piece tokenized: cuts fall before special
tokens, so in practice no BPE merge crosses one. Framing before the first
message (BOS, a default system prompt the template injects) is charged to
the first message, the generation prompt to the last. Caveat: if a first
message that is *not* a system message is dropped, an injected default
system prompt moves to the new first message and the total is under-counted
by its size (~20 tokens for SmolLM2); keep a system message first. A
template that rewrites contents (so they cannot be found in the rendering)
falls back to rendering each message alone, which over-counts the framing
but never under-counts. The llama.cpp and transformers runtimes share this.
"""

from __future__ import annotations

from collections.abc import Callable

from backend.runtimes.base import ChatMessage


def message_costs(
    messages: list[ChatMessage],
    render: Callable[[list[ChatMessage], bool], str],
    count: Callable[[str], int],
) -> list[int]:
    """``render(messages, with_generation_prompt)`` and ``count(text)`` are
    the runtime's own template and tokenizer."""
    if not messages:
        return []
    rendered = render(messages, True)
    cuts: list[int] = []
    cursor = 0
    for m in messages:
        at = rendered.find(m.content, cursor)
        if at < 0:
            return [count(render([m], False)) for m in messages]
        cursor = at + len(m.content)
        cuts.append(cursor)
    cuts[-1] = len(rendered)
    starts = [0, *cuts[:-1]]
    return [count(rendered[a:b]) for a, b in zip(starts, cuts, strict=True)]
