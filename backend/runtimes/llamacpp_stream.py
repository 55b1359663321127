"""Small pieces of one llama.cpp ``stream`` call: its clock (TTFT, prefill
and decode speed from timestamps and llama.cpp's perf counters) and the stop
string matcher that never shows a stop string split across tokens."""

from __future__ import annotations

import time
from dataclasses import dataclass

from backend.common.events import Usage


@dataclass
class StreamClock:
    """Timestamps of one ``stream`` call (``time.perf_counter`` seconds)."""

    start: float
    prefill_start: float = 0.0
    first_sample: float = 0.0
    last_sample: float = 0.0
    first_text: float = 0.0
    samples: int = 0

    def sampled(self) -> None:
        self.last_sample = time.perf_counter()
        self.samples += 1
        if self.samples == 1:
            self.first_sample = self.last_sample

    def texted(self) -> None:
        if not self.first_text:
            self.first_text = time.perf_counter()

    def usage(self, prompt_tokens: int, produced: int, processed: int) -> Usage:
        """``processed`` comes from llama.cpp's perf counters; if they look
        unusable we assume the whole prompt was processed (no reuse)."""
        end = time.perf_counter()
        if processed <= 0 or processed > prompt_tokens:
            processed = prompt_tokens
        prefill_s = self.first_sample - self.prefill_start if self.samples else 0.0
        decode_s = self.last_sample - self.first_sample
        return Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=produced,
            ttft_ms=((self.first_text or end) - self.start) * 1000,
            total_ms=(end - self.start) * 1000,
            prefill_tok_s=processed / prefill_s if prefill_s > 0 else None,
            decode_tok_s=(self.samples - 1) / decode_s
            if self.samples > 1 and decode_s > 0
            else None,
            cached_tokens=prompt_tokens - processed,
        )


class StopMatcher:
    """Holds back text that could be the start of a stop string, so a stop
    string is never shown even when it arrives split across tokens."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Return (text safe to emit, whether a stop string was hit)."""
        self.pending += text
        if not self.stops:
            out, self.pending = self.pending, ""
            return out, False
        hits = [i for i in (self.pending.find(s) for s in self.stops) if i >= 0]
        if hits:
            out, self.pending = self.pending[: min(hits)], ""
            return out, True
        keep = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(self.pending)), keep, -1):
                if self.pending.endswith(stop[:n]):
                    keep = n
                    break
        cut = len(self.pending) - keep
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return out, False

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out
