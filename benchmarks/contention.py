"""Does a reply keep its speed when the machine is not idle?

In one run, on the bundled SmolLM2 with greedy decoding and 128-token
replies (median of ``--replies``), the decode tokens/s and time to first
token of a reply through the backend, next to raw llama-cpp-python on an
idle machine, in five conditions:

1. idle;
2. while the same backend indexes the Python docs in the background;
3. while ``assistant index`` indexes them in another process on the same
   data folder;
4. while a tune-up trains (``trainer.job``, started by the backend);
5. with one core kept busy by an unrelated process (a busy loop).

Each condition runs twice: with the scheduler (the reply gate that makes
indexing and tune-ups stand aside, and llama.cpp's measured thread count)
and without it (``ASSISTANT_REPLY_GATE=off`` in this process and those it starts: the
gate never reports a reply; threads fixed at all cores; the tune-up still
runs niced), so the table shows what it buys in the
same run. It also reports indexing throughput alone and with replies
running, and how long replies held indexing back; and the TUI's own decode
rate (the real app, headless) idle and with a busy core.

Targets: conditions 2-4 at >= 0.8x raw idle decode, 5 at >= 0.6x; TTFT in
2-4 within 1.5x of idle.

    python benchmarks/contention.py [--docs 120] [--replies 3] [--out ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from contention_load import busy_core, corpus_copy, indexing_elsewhere, indexing_here, tuning

from backend.common.config import GenerationSettings, Settings
from backend.common.cores import physical_cores
from backend.common.events import Usage
from backend.common.locations import Locations
from backend.local.backend import Backend
from backend.modelfiles.catalog import bundled_model_path

PROMPT = "Write a detailed story about a lighthouse keeper who finds a message in a bottle."
TOKENS = 128
ROOT = Path(__file__).resolve().parent.parent


def settings(fixed_threads: bool) -> Settings:
    s = Settings.model_validate(
        {
            "ollama": {"enabled": False},
            "tools": {"enabled": False},
            "rag": {"use_documents": "never"},
        }
    )
    s.generation = GenerationSettings(max_tokens=TOKENS, temperature=0.0, seed=0)
    if fixed_threads:
        s.llama.n_threads = physical_cores()
    return s


# -- raw llama-cpp-python ---------------------------------------------------------


def raw_idle(replies: int, threads: int | None = None) -> list[dict[str, float]]:
    """Raw llama-cpp-python (all physical cores unless ``threads``)."""
    from llama_cpp import Llama

    threads = threads or physical_cores()
    llm = Llama(
        model_path=str(bundled_model_path()),
        n_ctx=2048,
        n_threads=threads,
        n_threads_batch=threads,
        n_gpu_layers=0,
        verbose=False,
    )
    out = []
    for n in range(replies + 1):  # the first warms up
        start = time.perf_counter()
        stamps: list[float] = []
        for _chunk in llm.create_chat_completion(
            [{"role": "user", "content": prompt(10**6 + n)}],
            max_tokens=TOKENS,
            temperature=0.0,
            stream=True,
        ):
            stamps.append(time.perf_counter())
        decode = (len(stamps) - 2) / (stamps[-1] - stamps[1])
        out.append({"decode_tok_s": decode, "ttft_ms": (stamps[1] - start) * 1000})
    return out[1:]


# -- replies through the backend ------------------------------------------------------


def prompt(n: int) -> str:
    """Prompts that differ from the first token, so every reply processes its
    prompt (no reuse of the last reply's KV cache) and TTFT means something."""
    return f"Story {n}: {PROMPT}"


_count = iter(range(10**9))


async def reply(backend: Backend) -> dict[str, float]:
    stream = await backend.chat.send(None, prompt(next(_count)))
    usage = next(e for e in await stream.collect() if isinstance(e, Usage))
    return {
        "decode_tok_s": usage.decode_tok_s or 0.0,
        "ttft_ms": usage.ttft_ms,
        "tokens": usage.completion_tokens,
    }


async def replies(
    backend: Backend, n: int, running: Callable[[], bool] | None = None
) -> list[dict[str, float]]:
    """``n`` replies; with ``running`` (is the background work still going?),
    each row says whether it was at the reply's start and end: a reply
    measured after the work finished is not a reply under contention."""
    rows = []
    for _ in range(n):
        before = running() if running else None
        row = await reply(backend)
        if running is not None:
            row["background"] = float(bool(before and running()))
        rows.append(row)
    return rows


def median(rows: list[dict[str, float]], key: str) -> float:
    return round(statistics.median(r[key] for r in rows), 1)


async def condition(
    name: str, scheduler: bool, n: int, docs: int
) -> tuple[list[dict[str, float]], dict[str, Any]]:
    home = Path(tempfile.mkdtemp(prefix=f"contention-{name}-"))
    backend = await Backend.open(locations=Locations(home), settings=settings(not scheduler))
    extra: dict[str, Any] = {}
    try:
        await reply(backend)  # load the model
        if name == "idle":
            rows = await replies(backend, n)
        elif name == "indexing here":
            async with indexing_here(backend, corpus_copy(home, docs)) as extra:
                rows = await replies(backend, n, extra["running"])
        elif name == "indexing elsewhere":
            with indexing_elsewhere(home, corpus_copy(home, docs)) as running:
                rows = await replies(backend, n, running)
        elif name == "tune-up":
            async with tuning(backend) as running:
                rows = await replies(backend, n, running)
        else:
            with busy_core():
                rows = await replies(backend, n)
    finally:
        await backend.close()
        shutil.rmtree(home, ignore_errors=True)
    return rows, extra


async def index_alone(docs: int) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="contention-index-"))
    backend = await Backend.open(locations=Locations(home), settings=settings(False))
    try:
        await backend.documents.add_folder(str(corpus_copy(home, docs)))
        summary = await backend.documents.index()
    finally:
        await backend.close()
        shutil.rmtree(home, ignore_errors=True)
    return {"chunks": summary.chunks, "seconds": summary.seconds}


async def tui(busy: bool) -> dict[str, Any]:
    from tui_decode import tui_decode

    if busy:
        with busy_core():
            return await tui_decode(True, TOKENS)
    return await tui_decode(True, TOKENS)


CONDITIONS = ("idle", "indexing here", "indexing elsewhere", "tune-up", "busy core")


def no_scheduler() -> contextlib.AbstractContextManager[Any]:
    """The gate never reports a reply: background work does not stand aside."""
    stack = contextlib.ExitStack()
    stack.enter_context(_env("ASSISTANT_REPLY_GATE", "off"))  # here and in subprocesses
    return stack


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "cores": physical_cores(),
            "load_before": os.getloadavg(),
        },
        "tokens": TOKENS,
        "replies": args.replies,
    }
    raw = raw_idle(args.replies)
    result["raw_idle"] = {"decode_tok_s": median(raw, "decode_tok_s"),
                          "ttft_ms": median(raw, "ttft_ms")}  # fmt: skip
    if "busy core" in args.conditions and physical_cores() > 1:
        # the ceiling with a core taken: raw llama-cpp-python on the others
        with busy_core():
            fewer = raw_idle(args.replies, physical_cores() - 1)
            every = raw_idle(args.replies)
        result["raw_busy_core"] = {
            "fewer_threads_decode_tok_s": median(fewer, "decode_tok_s"),
            "all_threads_decode_tok_s": median(every, "decode_tok_s"),
        }
    rows: dict[str, dict[str, Any]] = {}
    for name in args.conditions:
        entry: dict[str, Any] = {}
        for mode in ("scheduler", "no scheduler"):
            ctx = no_scheduler() if mode == "no scheduler" else contextlib.nullcontext()
            with ctx:
                got, extra = await condition(name, mode == "scheduler", args.replies, args.docs)
            entry[mode] = {"decode_tok_s": median(got, "decode_tok_s"),
                           "ttft_ms": median(got, "ttft_ms"), "runs": got, **extra}  # fmt: skip
            if any(r.get("background") == 0.0 for r in got):
                print(f"  note: {name} ({mode}): the background work ended during a "
                      "reply; use more --docs", flush=True)  # fmt: skip
            print(f"{name:20s} {mode:13s} decode {entry[mode]['decode_tok_s']:6.1f} tok/s "
                  f"TTFT {entry[mode]['ttft_ms']:6.0f} ms", flush=True)  # fmt: skip
        rows[name] = entry
    result["conditions"] = rows
    if "indexing here" in args.conditions:
        result["index_alone"] = await index_alone(args.docs)
    if args.tui:
        result["tui"] = {"idle": await tui(False), "busy core": await tui(True)}
    result["machine"]["load_after"] = os.getloadavg()
    return result


def report(result: dict[str, Any]) -> None:
    raw = result["raw_idle"]
    idle = result["conditions"].get("idle", {}).get("scheduler", {})
    print(f"\nraw llama-cpp-python, idle: {raw['decode_tok_s']} tok/s, TTFT {raw['ttft_ms']} ms")
    print(f"{'condition':20s} {'decode (sched)':>15s} {'x raw':>6s} {'TTFT':>7s} "
          f"{'x idle':>6s} {'decode (none)':>14s} {'x raw':>6s}")  # fmt: skip
    for name, entry in result["conditions"].items():
        s, n = entry["scheduler"], entry["no scheduler"]
        ttft_x = s["ttft_ms"] / idle["ttft_ms"] if idle else float("nan")
        ratio, ratio_none = (
            s["decode_tok_s"] / raw["decode_tok_s"],
            n["decode_tok_s"] / raw["decode_tok_s"],
        )
        print(f"{name:20s} {s['decode_tok_s']:15.1f} {ratio:6.2f} {s['ttft_ms']:7.0f} "
              f"{ttft_x:6.2f} {n['decode_tok_s']:14.1f} {ratio_none:6.2f}")  # fmt: skip
    if "raw_busy_core" in result:
        b = result["raw_busy_core"]
        print(f"raw llama-cpp-python with a busy core: {b['fewer_threads_decode_tok_s']} tok/s "
              f"on one thread fewer, {b['all_threads_decode_tok_s']} on all")  # fmt: skip
    here = result["conditions"].get("indexing here", {}).get("scheduler")
    alone = result.get("index_alone")
    if here and alone:
        print(
            f"\nindexing alone {alone['chunks'] / alone['seconds']:.1f} chunks/s; with replies "
            f"{here['chunks'] / here['seconds']:.1f} chunks/s; held back {here['yielded_s']:.1f} s"
        )
    if "tui" in result:
        print(
            f"TUI decode: idle {result['tui']['idle']['decode_tok_s']:.1f}, busy core "
            f"{result['tui']['busy core']['decode_tok_s']:.1f} tok/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=120, help="docs pages to index")
    parser.add_argument("--replies", type=int, default=3)
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS)
    parser.add_argument("--no-tui", dest="tui", action="store_false")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/contention.json")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    report(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
