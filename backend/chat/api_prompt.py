"""Fitting an API request's messages into the model's context window.

API clients send the whole conversation every time, and a long one used to
reach the model untrimmed and fail there (a 502). The chat turn's rules
apply (``backend.chat.history.fit_history``): whole messages only, the
system message and the last message always stay, the oldest turns go
first. There is no ``TrimState`` across requests (the server keeps no
conversation), so each request is cut afresh, down to ``LOW_WATER``.

``check_fits`` runs before the response starts, so a request whose system
message and last message alone do not fit is a clear 400 rather than an
error in the middle of a stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.chat.history import fit_history, surely_fits
from backend.common.errors import ContextOverflowError
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import ChatMessage, Runtime

LOW_WATER = 1.0
"""Trim only what is needed: without a remembered cut there is no KV-cache
prefix to protect from one request to the next, so keep all that fits."""


@dataclass
class Fitted:
    messages: list[ChatMessage]
    dropped: int = 0


def _split(messages: list[ChatMessage]) -> tuple[ChatMessage | None, list[ChatMessage]]:
    """Every system message joined into one at the front, and the rest."""
    text = "\n\n".join(m.content for m in messages if m.role == "system" and m.content.strip())
    rest = [m for m in messages if m.role != "system"]
    return (ChatMessage("system", text) if text else None), rest


def check_fits(runtime: Runtime, model: ModelInfo, messages: list[ChatMessage], reply: int) -> None:
    """Raise unless the system message(s) and the last message fit with
    ``reply`` tokens kept for the answer.

    Raises:
        ContextOverflowError: they do not (the message gives both sizes).
    """
    window = runtime.context_window(model)
    budget = window - reply
    if surely_fits(messages, budget):
        return
    system, rest = _split(messages)
    needed = ([system] if system else []) + rest[-1:]
    tokens = sum(runtime.count_tokens(model, needed))
    if tokens > budget:
        raise ContextOverflowError(
            f"prompt has {tokens} tokens, the model's context window is {window} "
            f"({reply} of them kept for the reply): shorten the last message or "
            "lower max_tokens"
        )


def fit_messages(
    runtime: Runtime, model: ModelInfo, messages: list[ChatMessage], reply: int
) -> Fitted:
    """``messages`` with the oldest turns left out until they fit.

    Raises:
        ContextOverflowError: the system and last message alone do not fit.
    """
    budget = runtime.context_window(model) - reply
    if surely_fits(messages, budget):
        return Fitted(list(messages))
    system, rest = _split(messages)
    if not rest:
        raise ContextOverflowError("the request has only system messages")
    costs = runtime.count_tokens(model, ([system] if system else []) + rest)
    if sum(costs) <= budget:
        return Fitted(list(messages))
    result = fit_history(system, rest, costs, budget, low_water=LOW_WATER)
    return Fitted(result.messages, result.dropped)
