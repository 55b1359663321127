"""Fitting a conversation into the model's context window.

Rules:
- whole messages only: a message is either in the prompt or left out, never
  cut in the middle;
- the system prompt and the newest user message always stay; if those two
  alone do not fit, that is a ``ContextOverflowError``, not silent truncation;
- the first kept turn after the system prompt is a user turn (chat templates
  expect alternation);
- hysteresis: when trimming is needed we drop down to ``low_water`` of the
  budget and remember the cut (``TrimState``), so the next several turns keep
  a byte-identical prefix and llama.cpp can reuse its KV cache instead of
  re-processing the history on every turn.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.common.errors import ContextOverflowError
from backend.runtimes.base import ChatMessage

# Bytes allowed per message for the chat template's framing (role markers,
# special tokens), plus a fixed allowance for a default system prompt some
# templates inject and the generation prompt. Generous on purpose: it only
# decides whether exact counting can be skipped.
FRAMING_BYTES_PER_MESSAGE = 64
FRAMING_BYTES_FIXED = 512


def surely_fits(messages: list[ChatMessage], budget: int) -> bool:
    """True when ``messages`` fit ``budget`` tokens without counting them.

    Every token of text stands for at least one byte (byte-fallback tokens
    are exactly one; special tokens are several), so a prompt's token count
    never exceeds its UTF-8 length. Short conversations -- most of them --
    therefore skip tokenizing the whole history on every turn.
    """
    size = FRAMING_BYTES_FIXED + sum(
        len(m.content.encode("utf-8")) + FRAMING_BYTES_PER_MESSAGE for m in messages
    )
    return size <= budget


@dataclass
class TrimResult:
    messages: list[ChatMessage]
    dropped: int
    total_tokens: int


@dataclass
class TrimState:
    """Remembered cut for one conversation: how many leading history messages
    (after the system prompt) were dropped last time."""

    dropped: int = 0


def fit_history(
    system: ChatMessage | None,
    history: list[ChatMessage],
    costs: list[int],
    budget: int,
    state: TrimState | None = None,
    low_water: float = 0.75,
) -> TrimResult:
    """Choose which of ``history`` (oldest first, ending with the new user
    message) go into the prompt.

    Args:
        system: the system message, always kept when given.
        history: conversation messages, oldest first.
        costs: token cost of ``[system] + history`` (system first when given).
        budget: tokens available for the prompt (context minus reply reserve).
        state: remembered cut for this conversation, updated in place.
        low_water: fraction of ``budget`` to trim down to when trimming.
    """
    if len(costs) != len(history) + (1 if system else 0):
        raise ValueError("costs must cover the system message and every history message")
    sys_cost = costs[0] if system else 0
    hist_costs = costs[1:] if system else costs
    if not history:
        raise ValueError("history must end with the new user message")
    fixed = sys_cost + hist_costs[-1]
    if fixed > budget:
        raise ContextOverflowError(
            f"the message needs {hist_costs[-1]} tokens and the system prompt {sys_cost}, "
            f"but only {budget} fit in the context window; shorten it or pick a model "
            "with a larger context"
        )
    state = state if state is not None else TrimState()

    def total_from(start: int) -> int:
        return sys_cost + sum(hist_costs[start:])

    def first_user_from(start: int) -> int:
        while start < len(history) - 1 and history[start].role != "user":
            start += 1
        return start

    start = min(state.dropped, len(history) - 1)
    # The remembered cut may now be larger than needed (e.g. after an edit
    # shortened the thread); never keep dropping messages that fit.
    if start and total_from(0) <= budget:
        start = 0
    start = first_user_from(start)
    if total_from(start) > budget:
        target = int(budget * low_water)
        while start < len(history) - 1 and total_from(start) > target:
            start += 1
        start = first_user_from(start)
    state.dropped = start
    kept = history[start:]
    return TrimResult(
        messages=([system] if system else []) + kept,
        dropped=start,
        total_tokens=total_from(start),
    )
