"""Does a long conversation keep working, and does its time to first token
stay bounded?

One conversation of ``--turns`` scripted user turns (default 60) through the
``Backend`` facade on the bundled SmolLM2 GGUF, with a small window
(``--n-ctx``, default 768) so history outgrows it and old turns are folded
into the summary several times, replies of ``--max-tokens`` (default 12),
tools off. Turn 2 states a fact; the last turn asks about it.

Per turn: the TTFT the user sees (wall clock from ``send`` to the first text
piece, so it includes a fold's summarising call when one happens), the
runtime's own TTFT, prompt and cached tokens, and whether the turn folded.
Prints a summary (median, p95 and max TTFT, folds, the fact found in the
last prompt) and writes JSON (``--out``, default
``benchmarks/results/long_chat.json``).

Run: ``python benchmarks/long_chat.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from backend import Backend
from backend.common.config import GenerationSettings, Settings
from backend.common.events import HistorySummarised, RuntimeEvent, TextDelta, Usage
from backend.common.locations import Locations
from backend.modelfiles.catalog import BUNDLED_MODEL_NAME
from backend.runtimes.base import GenerationRequest
from backend.runtimes.llamacpp import LlamaCppRuntime

FACT = "My cat is called Pixelbob and she is nine years old."
TOPICS = ["tea", "bikes", "rain", "maps", "jazz", "chess", "bread", "boats", "kites", "stars"]


class Recording(LlamaCppRuntime):
    def __init__(self, settings: Settings, locations: Locations) -> None:
        super().__init__(settings, locations)
        self.prompts: list[GenerationRequest] = []

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[RuntimeEvent]:
        self.prompts.append(request)
        return super().stream(request, cancel)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(turns: int, n_ctx: int, max_tokens: int) -> dict[str, Any]:
    settings = Settings(
        default_model=BUNDLED_MODEL_NAME,
        generation=GenerationSettings(max_tokens=max_tokens, temperature=0.0, seed=1),
    )
    settings.llama.n_ctx = n_ctx
    settings.tools.enabled = False
    home = Path(tempfile.mkdtemp(prefix="long-chat-"))
    locations = Locations(home).ensure()
    runtime = Recording(settings, locations)
    b = await Backend.open(locations=locations, settings=settings, runtimes=[runtime])
    texts = ["Hello! Let us chat about small things today.", FACT]
    texts += [f"Tell me one short thing about {TOPICS[i % 10]}, please." for i in range(turns - 3)]
    texts.append("What did I say about my cat?")
    rows: list[dict[str, Any]] = []
    cid = None
    try:
        for i, text in enumerate(texts, start=1):
            if i == len(texts):
                b.core.chats.wait_idle(300)  # the background index caught up
            started = time.perf_counter()
            stream = await b.chat.send(cid, text)
            cid = stream.conversation_id
            first: float | None = None
            row: dict[str, Any] = {"turn": i, "folded": False}
            async for event in stream:
                if isinstance(event, TextDelta) and first is None:
                    first = time.perf_counter()
                elif isinstance(event, HistorySummarised):
                    row["folded"] = True
                    row["summarised_messages"] = event.summarised_messages
                elif isinstance(event, Usage):
                    row.update(
                        runtime_ttft_ms=round(event.ttft_ms, 1),
                        prompt_tokens=event.prompt_tokens,
                        cached_tokens=event.cached_tokens,
                    )
            row["ttft_ms"] = round(((first or time.perf_counter()) - started) * 1000, 1)
            rows.append(row)
            print(
                f"turn {i:3d}  ttft {row['ttft_ms']:8.1f} ms  prompt {row.get('prompt_tokens')}"
                f"  cached {row.get('cached_tokens')}" + ("  (folded)" if row["folded"] else "")
            )
        last_prompt = "\n".join(m.content for m in runtime.prompts[-1].messages)
        summary = await b.conversations.conversation_summary(cid) if cid else None
    finally:
        await b.close()
    ttfts = [r["ttft_ms"] for r in rows]
    steady = [r["ttft_ms"] for r in rows if not r["folded"]]
    return {
        "turns": turns,
        "n_ctx": n_ctx,
        "max_tokens": max_tokens,
        "folds": sum(r["folded"] for r in rows),
        "ttft_ms_median": statistics.median(ttfts),
        "ttft_ms_p95": pct(ttfts, 0.95),
        "ttft_ms_max": max(ttfts),
        "ttft_ms_max_without_fold": max(steady) if steady else None,
        "fact_in_last_prompt": "Pixelbob" in last_prompt,
        "summary_covers": summary.covered if summary else 0,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--n-ctx", type=int, default=768)
    parser.add_argument("--max-tokens", type=int, default=12)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/long_chat.json"))
    args = parser.parse_args()
    result = asyncio.run(run(args.turns, args.n_ctx, args.max_tokens))
    print(
        f"\n{result['turns']} turns, window {result['n_ctx']}: {result['folds']} folds; "
        f"TTFT median {result['ttft_ms_median']:.0f} ms, p95 {result['ttft_ms_p95']:.0f} ms, "
        f"max {result['ttft_ms_max']:.0f} ms (without a fold "
        f"{result['ttft_ms_max_without_fold']:.0f} ms); "
        f"turn-2 fact in the last prompt: {result['fact_in_last_prompt']}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
