"""Does long-term memory cost time to first token? Turn-10 TTFT with memory
off vs on, on the bundled SmolLM2 through the ``Backend`` facade (real store,
real MiniLM), 10-turn conversations whose questions wander between topics.

Three runs, each a fresh data folder:

* ``off``: no memories stored;
* ``pinned`` (what the assistant does): 8 memories stored; the first turn
  picks the relevant ones and the conversation keeps them, so the system
  message is the same every turn and llama.cpp reuses the cached prefix;
* ``per_turn`` (the alternative we rejected): the memories are chosen again
  for every question (the pin is cleared before each turn), so the system
  message changes whenever the topic does.

Tool calling is off (``--tools`` leaves it on). Turn 1 includes loading the
model (the first run) and is not compared. Prints turn-10 TTFT, the median
of turns 2-10 and turn 10's cached prompt tokens per run, and writes
JSON (``--out``, default ``benchmarks/results/memory_ttft.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
from pathlib import Path
from typing import Any

from backend import Backend
from backend.common.config import Settings
from backend.common.events import MemoriesUsed, Usage
from backend.common.locations import Locations

MEMORIES = [
    "I prefer metric units",
    "My manager is Dana",
    "I work on the billing service",
    "I am vegetarian",
    "My dog is called Rex",
    "I live in Lyon",
    "I write Python and Go",
    "I like short answers",
]
QUESTIONS = [
    "How far is 10 miles?",
    "Suggest a dinner recipe.",
    "Why would an invoice job fail?",
    "What should I tell my manager about the delay?",
    "What is a good name for a puppy?",
    "What is the weather usually like where I live?",
    "Write a Go function that adds two numbers.",
    "How heavy is 5 pounds?",
    "Suggest a lunch for tomorrow.",
    "Summarise what we talked about.",
]


async def run(mode: str, turns: int, max_tokens: int, tools: bool = False) -> dict[str, Any]:
    settings = Settings()
    settings.generation.max_tokens = max_tokens
    settings.generation.temperature = 0.0
    settings.generation.seed = 1
    # Tools off: a turn with a hidden tool decision re-processes the prompt
    # whatever memory does (the decision is another prompt), which would
    # hide the effect measured here.
    settings.tools.enabled = tools
    with tempfile.TemporaryDirectory() as home:
        b = await Backend.open(locations=Locations(Path(home)), settings=settings)
        try:
            if mode != "off":
                for text in MEMORIES:
                    await b.memory.add_memory(text)
            conv = await b.conversations.create_conversation()
            rows = []
            for q in QUESTIONS[:turns]:
                if mode == "per_turn":
                    b.core.stores.memories.pin(conv.id, [])  # forget the pinned choice
                usage: Usage | None = None
                used: tuple[str, ...] = ()
                async for e in await b.chat.send(conv.id, q):
                    if isinstance(e, Usage):
                        usage = e
                    elif isinstance(e, MemoriesUsed):
                        used = tuple(m.text for m in e.memories)
                assert usage is not None
                rows.append(
                    {
                        "ttft_ms": round(usage.ttft_ms, 1),
                        "prompt_tokens": usage.prompt_tokens,
                        "cached_tokens": usage.cached_tokens,
                        "memories": list(used),
                    }
                )
        finally:
            await b.close()
    return {"mode": mode, "turns": rows}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--tools", action="store_true", help="leave tool calling on")
    parser.add_argument("--out", default="benchmarks/results/memory_ttft.json")
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": platform.platform(), "runs": {}}
    for mode in ("off", "pinned", "per_turn"):
        runs = [
            await run(mode, args.turns, args.max_tokens, args.tools) for _ in range(args.repeats)
        ]
        last = [r["turns"][-1] for r in runs]
        results["runs"][mode] = {
            "turn1_ttft_ms": statistics.median(r["turns"][0]["ttft_ms"] for r in runs),
            "turns_2_to_10_median_ttft_ms": statistics.median(
                t["ttft_ms"] for r in runs for t in r["turns"][1:]
            ),
            "turn10_ttft_ms": statistics.median(t["ttft_ms"] for t in last),
            "turn10_prompt_tokens": last[0]["prompt_tokens"],
            "turn10_cached_tokens": last[0]["cached_tokens"],
            "detail": runs,
        }
    print(f"{'mode':10} {'turn-10 TTFT':>13} {'median 2-10':>12} {'prompt':>7} {'cached':>7}")
    for mode, r in results["runs"].items():
        print(
            f"{mode:10} {r['turn10_ttft_ms']:>11.0f}ms {r['turns_2_to_10_median_ttft_ms']:>10.0f}ms"
            f" {r['turn10_prompt_tokens']:>7} {r['turn10_cached_tokens']:>7}"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
