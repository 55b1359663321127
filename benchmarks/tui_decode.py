"""Decode speed the user actually sees: the real Textual app, driven headless
by Pilot, streaming a reply from the bundled model, for each way of running
llama.cpp (in a worker process, the default; in-process) and optionally with
a competing busy core. Next to it, raw llama-cpp-python in a plain script.

The UI renders while tokens arrive; this measures what that costs the model.
Prints a table and writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.app import AssistantApp
from assistant.widgets.composer import Composer
from backend import Backend
from backend.common.config import GenerationSettings, Settings
from backend.common.cores import physical_cores
from backend.common.locations import Locations
from backend.modelfiles.catalog import bundled_model_path

PROMPT = "Write a detailed story about a lighthouse keeper who finds a message in a bottle."


async def tui_decode(
    subprocess: bool, max_tokens: int, threads: int | None = None
) -> dict[str, Any]:
    settings = Settings(generation=GenerationSettings(max_tokens=max_tokens, temperature=0.0))
    settings.llama.subprocess = subprocess
    settings.llama.n_threads = threads
    backend = Backend(locations=Locations(Path(tempfile.mkdtemp())), settings=settings)
    app = AssistantApp(backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()  # the backend has started
        for text in ("Hi", PROMPT):  # the first loads the model
            composer = app.main.query_one(Composer)
            composer.focus()
            composer.text = text
            await pilot.press("enter")
            await pilot.pause(0.1)
            await app.workers.wait_for_complete()
            await pilot.pause(0.1)
        log = [r for r in await backend.telemetry.request_log() if r.stage == "generate"]
    assert len(log) == 2, "a message was not sent"
    rec = log[0]
    return {
        "decode_tok_s": rec.decode_tok_s,
        "ttft_ms": rec.ttft_ms,
        "completion_tokens": rec.completion_tokens,
    }


def raw_decode(max_tokens: int) -> dict[str, Any]:
    from llama_cpp import Llama

    threads = physical_cores()
    llm = Llama(
        model_path=str(bundled_model_path()),
        n_ctx=4096,
        n_threads=threads,
        n_threads_batch=threads,
        n_gpu_layers=0,
        verbose=False,
    )
    messages = [{"role": "user", "content": PROMPT}]
    first = last = None
    n = 0
    for chunk in llm.create_chat_completion(
        messages=messages, stream=True, max_tokens=max_tokens, temperature=0.0
    ):
        if chunk["choices"][0]["delta"].get("content"):
            last = time.perf_counter()
            first = first or last
            n += 1
    llm.close()
    assert first is not None and last is not None
    return {"decode_tok_s": (n - 1) / (last - first), "completion_tokens": n}


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--busy", action="store_true", help="also measure with one busy core")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "tui_decode.json"
    )
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for load in ["idle", "one busy core"] if args.busy else ["idle"]:
        hog = None
        if load != "idle":
            hog = multiprocessing.get_context("spawn").Process(target=_spin, args=(600,))
            hog.start()
        try:
            results[load] = {
                "raw llama-cpp-python (script)": raw_decode(args.max_tokens),
                "TUI, worker process": asyncio.run(tui_decode(True, args.max_tokens)),
                "TUI, in-process thread": asyncio.run(tui_decode(False, args.max_tokens)),
                "TUI, worker process, 1 thread": asyncio.run(
                    tui_decode(True, args.max_tokens, threads=1)
                ),
            }
        finally:
            if hog is not None:
                hog.kill()
    for load, rows in results.items():
        print(f"{load}:")
        for name, r in rows.items():
            print(f"  {name:32} {r['decode_tok_s']:6.1f} tok/s  ({r['completion_tokens']} tokens)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"threads": physical_cores(), **results}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
