"""Long conversations: fold the oldest turns into a summary instead of
dropping them.

When a turn's prompt would not fit the context window, the oldest messages
are summarised by the conversation's own model into the conversation's
summary (``backend.store.summaries``), which then rides at the end of the
system message in their place. The cut and the summary are remembered, so
the next turns send a byte-identical prefix (system + summary + the same
kept turns) and llama.cpp reuses its KV cache, until the kept turns grow
past the budget again; then more turns are folded into a new summary that
builds on the old one (or on the user's edited version).

A fold cuts down to ``LOW_WATER`` of the budget, so it happens every
several turns rather than on every turn, and leaves ``SUMMARY_TOKENS`` for
the summary itself. The summariser's prompt is bounded too: each message
is cut to ``MAX_LINE_CHARS`` (with a note) and the messages are folded in
groups that fit the window, so a long imported chat folds in a few calls.

If summarising fails (a model error, an empty summary) the turn falls back
to leaving the oldest messages out (``fit_history``), as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from backend.chat.history import TrimState, fit_history, surely_fits
from backend.common.events import ChatEvent, HistorySummarised, HistoryTrimmed
from backend.modelfiles.catalog import ModelInfo
from backend.rag.query import generate_with
from backend.rag.types import Completion, StageTiming
from backend.runtimes.base import ChatMessage, GenerationParams, Runtime
from backend.store.records import ConversationSummary
from backend.store.summaries import SummaryStore

SUMMARY_TOKENS = 160
LOW_WATER = 0.6
MAX_LINE_CHARS = 600
HEADER = "Summary of the earlier part of this conversation:"
INSTRUCTION = (
    "Summarise the conversation below in a few short sentences. Keep every name, "
    "number, date, fact and decision the user stated."
)


@dataclass
class Fitted:
    """The prompt that fits, and what fitting did."""

    messages: list[ChatMessage]
    summarised: int = 0
    dropped: int = 0


def with_summary(system_text: str, summary: str | None) -> str:
    """The system message's text with the summary at its end."""
    parts = [system_text.strip()]
    if summary and summary.strip():
        parts.append(f"{HEADER}\n{summary.strip()}")
    return "\n\n".join(p for p in parts if p)


def _line(m: ChatMessage) -> str:
    text = " ".join(m.content.split())
    if len(text) > MAX_LINE_CHARS:
        cut = text[:MAX_LINE_CHARS].rsplit(" ", 1)[0]
        text = f"{cut} [... {len(text) - len(cut)} more characters left out]"
    return f"{'User' if m.role == 'user' else 'Assistant'}: {text}"


def summary_prompt(previous: str | None, messages: list[ChatMessage]) -> list[ChatMessage]:
    """The summariser's request: the earlier summary, then the turns to fold."""
    body = "\n".join(_line(m) for m in messages)
    if previous and previous.strip():
        body = f"Earlier summary: {previous.strip()}\n\n{body}"
    return [ChatMessage("user", f"{INSTRUCTION}\n\n{body}")]


Summarise = Callable[[list[ChatMessage], int], Completion]


class Folder:
    """Fits one turn's prompt, folding into the conversation's summary.

    ``summarise`` runs a hidden completion (messages, max tokens) -> text;
    ``count`` is the runtime's token counter.
    """

    def __init__(
        self,
        store: SummaryStore,
        conversation_id: int,
        count: Callable[[list[ChatMessage]], list[int]],
        summarise: Summarise,
        window: int,
    ) -> None:
        self.store = store
        self.conversation_id = conversation_id
        self.count = count
        self.summarise = summarise
        self.window = window
        self.summary_tokens = SUMMARY_TOKENS
        self.stages: list[StageTiming] = []
        """One ``summarise`` stage per model call, for the request log."""

    def current(self, ids: list[int]) -> ConversationSummary | None:
        """The stored summary when it covers a prefix of this thread (not its
        newest message)."""
        summary = self.store.get(self.conversation_id)
        if summary is None or summary.through_message_id not in ids[:-1]:
            return None
        return summary

    def fit(
        self,
        system_text: str,
        history: list[ChatMessage],
        ids: list[int],
        budget: int,
        trim_state: TrimState,
        emit: Callable[[ChatEvent], None],
    ) -> Fitted:
        """The prompt for ``history`` (oldest first, ``ids`` its message ids)."""
        # A small window cannot spare SUMMARY_TOKENS: a quarter of it at most.
        self.summary_tokens = min(SUMMARY_TOKENS, max(budget // 4, 16))
        summary = self.current(ids)
        covered = 0
        text: str | None = None
        if summary is not None:
            cut = ids.index(summary.through_message_id) + 1
            history, ids = history[cut:], ids[cut:]
            covered, text = summary.covered, summary.content
        prompt = _prompt(with_summary(system_text, text), history)
        if surely_fits(prompt, budget):
            return Fitted(prompt)
        base = ChatMessage("system", system_text)
        head = [base, ChatMessage("user", with_summary("", text))]
        costs = self.count([*head, *history])
        fixed, hist_costs = costs[0] + (costs[1] if text else 0), costs[2:]
        if fixed + sum(hist_costs) <= budget:
            return Fitted(prompt)
        start = _fold_point(history, hist_costs, costs[0] + self.summary_tokens, budget)
        if start > 0:
            new_text = self._fold(text, history[:start], hist_costs[:start])
            if new_text:
                covered += start
                self.store.save(self.conversation_id, ids[start - 1], covered, new_text)
                history, text = history[start:], new_text
                emit(HistorySummarised(covered, len(history), self.window))
                prompt = _prompt(with_summary(system_text, text), history)
                if sum(self.count(prompt)) <= budget:
                    return Fitted(prompt, summarised=covered)
        # Could not summarise (or still too long): leave the oldest out.
        system = ChatMessage("system", with_summary(system_text, text))
        costs = self.count([system, *history])
        trimmed = fit_history(system, history, costs, budget, trim_state)
        if trimmed.dropped:
            emit(HistoryTrimmed(trimmed.dropped, len(trimmed.messages), self.window))
        return Fitted(trimmed.messages, summarised=covered, dropped=trimmed.dropped)

    def _fold(self, previous: str | None, messages: list[ChatMessage], costs: list[int]) -> str:
        """``previous`` extended with ``messages``, in groups whose prompt
        fits; empty when a call failed (nothing may be folded then)."""
        room = max(self.window - self.summary_tokens - 256, 128)
        text = previous
        groups: list[list[ChatMessage]] = [[]]
        used = 0
        for m, cost in zip(messages, costs, strict=True):
            cost = min(cost, MAX_LINE_CHARS)  # a cut line costs at most its characters
            if groups[-1] and used + cost > room:
                groups.append([])
                used = 0
            groups[-1].append(m)
            used += cost
        for group in groups:
            text = self._call(text, group)
            if not text:
                return ""
        return text or ""

    def _call(self, previous: str | None, group: list[ChatMessage]) -> str:
        started = time.perf_counter()
        try:
            done = self.summarise(summary_prompt(previous, group), self.summary_tokens)
        except Exception as err:  # fall back to leaving turns out
            ms = (time.perf_counter() - started) * 1000
            self.stages.append(StageTiming("summarise", ms, {"error": f"{err}"}))
            return ""
        ms = (time.perf_counter() - started) * 1000
        self.stages.append(
            StageTiming("summarise", ms, {"messages": len(group)}, done.usage, done.inputs)
        )
        return done.text.strip()


def _prompt(system_text: str, history: list[ChatMessage]) -> list[ChatMessage]:
    system = [ChatMessage("system", system_text)] if system_text.strip() else []
    return [*system, *history]


def _fold_point(history: list[ChatMessage], costs: list[int], fixed: int, budget: int) -> int:
    """How many of the oldest messages to fold: enough that the rest and
    ``fixed`` (the system prompt and a full summary) fit ``LOW_WATER`` of the
    budget; the kept part starts with a user turn and keeps at least the
    newest message."""
    target = int(budget * LOW_WATER) - fixed
    start, total = 0, sum(costs)
    while start < len(history) - 1 and total > target:
        total -= costs[start]
        start += 1
    while start < len(history) - 1 and history[start].role != "user":
        start += 1
    return start


def model_summariser(runtime: Runtime, model: ModelInfo) -> Summarise:
    """A ``Summarise`` on the turn's runtime and model (greedy, no stop string)."""
    return generate_with(
        runtime, model, GenerationParams(max_tokens=SUMMARY_TOKENS, stop=(), temperature=0.0)
    )
