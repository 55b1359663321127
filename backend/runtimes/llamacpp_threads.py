"""How many threads llama.cpp decodes with, chosen by measuring.

llama.cpp's CPU threads spin-wait for each other at every layer, so when
one of them shares a core with anything else (a browser, a build, the
user's own indexing in another program) the whole token waits for it:
measured on 2 cores with one core kept busy, decoding fell from 78 to
about 6 tokens/s with 2 threads, while 1 thread kept about 49. On an idle
machine all cores are fastest (78 vs 49 tokens/s here).

So the runtime measures. Decoding alternates between two candidates, all
physical cores and one fewer: each window of ``WINDOW`` tokens is timed;
when the other candidate's recent rate is clearly better (by
``SWITCH_MARGIN``) the runtime switches to it between two tokens
(``llama_set_n_threads``), and a candidate not measured for ``STALE_S`` is
probed again for one short window, so a neighbour that went away is
noticed; a probe stops as soon as it has lost (``probe_budget``). The
choice carries over from reply to reply. ``llama.n_threads``
in the config turns this off and fixes the count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

WINDOW = 8
"""Tokens per measured window (about 0.1 s at full speed here)."""
PROBE_WINDOW = 8
"""Tokens spent measuring a candidate whose rate is stale or unknown (fewer
proved too noisy to compare two candidates on an idle machine)."""
SETTLE_TOKENS = 1
"""Tokens after prefill left out of every reply's first window."""
STALE_S = 60.0
"""A candidate's rate is trusted this long at most."""
RETRY_S = 2.0
"""A candidate that just lost a comparison is measured again after this,
doubling with each further loss up to ``STALE_S``: one noisy window (the
first after a model load runs slow) cannot strand decoding on the wrong
count for a minute, and a busy neighbour still costs few slow probes."""
SWITCH_MARGIN = 1.25
STRIKES = 2
"""An established choice is left only after this many slow windows in a
row: background work finishing as a reply starts (a batch of embeddings)
slows one window, not the reply."""


@dataclass
class _Rate:
    tokens_per_s: float
    at: float


@dataclass
class ThreadChooser:
    """The choice and the measurements behind it (one per loaded model)."""

    most: int
    """All physical cores (or the configured count)."""
    adaptive: bool = True
    current: int = 0
    rates: dict[int, _Rate] = field(default_factory=dict)
    losses: dict[int, int] = field(default_factory=dict)
    """Comparisons each candidate lost in a row (its retry backoff)."""
    strikes: int = 0
    """Windows in a row at ``current`` that lost to the other's rate."""
    probing: bool = False
    """``current`` was switched to only to measure it: it is kept only if it
    beat the other candidate's recent rate (no margin in its favour)."""
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.current = self.current or self.most

    @property
    def candidates(self) -> tuple[int, ...]:
        if not self.adaptive or self.most < 2:
            return (self.most,)
        return (self.most, self.most - 1)

    def other(self) -> int | None:
        options = [n for n in self.candidates if n != self.current]
        return options[0] if options else None

    def recent(self, n: int) -> float | None:
        rate = self.rates.get(n)
        trusted = (
            min(STALE_S, RETRY_S * 2 ** self.losses.get(n, 0)) if n != self.current else STALE_S
        )
        if rate is None or self.clock() - rate.at > trusted:
            return None
        return rate.tokens_per_s

    def window_size(self) -> int:
        return PROBE_WINDOW if self.recent(self.current) is None else WINDOW

    def probe_budget(self) -> float | None:
        """While probing: the seconds the other candidate needs for a whole
        window at its recent rate. A probe that has used them up has lost
        whatever its remaining tokens do, so it ends there: with a busy
        core, a probe of all cores costs one slow token (about 0.2 s here)
        instead of a window of them (1.6 s of a 2.5 s reply)."""
        other = self.other()
        theirs = self.recent(other) if self.probing and other is not None else None
        return PROBE_WINDOW / theirs if theirs else None

    def measured(self, tokens: int, seconds: float) -> int | None:
        """Record a window at ``current``; the thread count to switch to, if any.

        A probed candidate is kept only when it measured faster than the
        other's recent rate; an established choice is left only when the
        other is faster by ``SWITCH_MARGIN``. (With the margin applied to a
        probe too, a noisy window at all cores could strand an idle machine
        on one fewer thread for ``STALE_S``: measured 47 instead of 87 tok/s.)
        """
        if seconds <= 0 or tokens <= 0:
            return None
        rate = tokens / seconds
        self.rates[self.current] = _Rate(rate, self.clock())
        probing, self.probing = self.probing, False
        other = self.other()
        if other is None:
            return None
        theirs = self.recent(other)
        if theirs is None:
            self.current, self.probing = other, True  # measure a stale candidate
            return other
        if theirs > rate * (1.0 if probing else SWITCH_MARGIN):
            self.strikes += 1
            if probing or self.strikes >= STRIKES:
                self._won(other, self.current)
                self.current, self.strikes = other, 0  # the faster one
                return other
            return None
        self.strikes = 0
        if probing:
            self._won(self.current, other)  # the probe was faster: kept
        return None

    def _won(self, winner: int, loser: int) -> None:
        self.losses[winner] = 0
        self.losses[loser] = self.losses.get(loser, 0) + 1


class DecodeTimer:
    """Times one reply's tokens into ``ThreadChooser`` windows and applies
    its switches through ``set_threads`` (between tokens)."""

    def __init__(
        self,
        chooser: ThreadChooser,
        set_threads: Callable[[int], None],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.chooser = chooser
        self.set_threads = set_threads
        self.clock = clock
        self._count = 0
        self._seen = 0
        self._since = 0.0
        self._size = chooser.window_size()
        self._budget = chooser.probe_budget()

    def token(self) -> None:
        now = self.clock()
        self._seen += 1
        if self._seen <= SETTLE_TOKENS:
            return  # the first tokens after prefill run slower: not a measure
        if self._count == 0:
            self._since = now
        self._count += 1
        lost = self._budget is not None and self._count > 1 and now - self._since > self._budget
        if self._count <= self._size and not lost:
            return
        switch = self.chooser.measured(self._count - 1, now - self._since)
        if switch is not None:
            self.set_threads(switch)
        self._count, self._since = 1, now
        self._size = self.chooser.window_size()
        self._budget = self.chooser.probe_budget()
