"""What a cross-encoder reranker costs per question on this machine.

Each question reranks ``--candidates`` (default 30, ``[rag] candidates``)
real passages through ``CrossEncoderReranker`` (the class answers use):
chunks of the Python docs corpus (``inputs.CORPUS``) cut by the knowledge
base's own ``Chunker`` (up to 256 MiniLM tokens each), a different random
set per question; questions are the shared dev set's (``inputs.DEV``).
Milliseconds are wall clock around ``rerank`` only, after the model is loaded
and warmed up with two questions.

Models, built offline from the bundled all-MiniLM-L6-v2 weights by
``tests/cross_encoders.build_cross_encoder`` (no download possible here):

- ``tiny``: 2 layers (the test suite's fixture);
- ``minilm-l6``: 6 layers, 384 wide: the architecture of
  ``cross-encoder/ms-marco-MiniLM-L6-v2`` (the catalog's
  ``ms-marco-minilm-l6``), so its speed, not its quality: the head is
  untrained and relevance cannot be measured offline;
- ``--model DIR``: any cross-encoder folder you have (a pulled one).

Prints p50/p95/mean wall milliseconds per question, and the median CPU
milliseconds (all threads summed: on shared cores the wall clock includes
waiting for other people's work, CPU time does not; CPU ms / threads is
about the wall time the same cores would take unshared), and writes JSON (``--out``, default
``benchmarks/results/rerank_cost.json``).

    .venv/bin/python benchmarks/rerank_cost.py --queries 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from inputs import CORPUS, DEV

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.cross_encoders

from backend.knowledge.chunking import Chunker
from backend.knowledge.parsers import parse_file
from backend.knowledge.records import DocumentHit
from backend.rag.rerank import CrossEncoderReranker
from tests.cross_encoders import build_cross_encoder

FILES = ("library/json.html", "library/socket.html", "library/pathlib.html",
         "library/functools.html", "library/asyncio-task.html")  # fmt: skip
FALLBACK_QUESTIONS = ["How do I read a JSON file?", "How do I set a socket timeout?"]


def passages(limit: int = 400) -> list[DocumentHit]:
    chunker = Chunker()
    hits: list[DocumentHit] = []
    for name in FILES:
        path = CORPUS / name
        if not path.is_file():
            continue
        for c in chunker.chunk(parse_file(path)):
            heading = " > ".join(c.heading_path)
            hits.append(DocumentHit(len(hits), str(path), heading, None, 0.0, c.text))
    if not hits:  # no corpus: plain prose of a typical chunk's length
        words = [
            "the",
            "socket",
            "module",
            "provides",
            "access",
            "to",
            "the",
            "BSD",
            "socket",
            "interface",
        ]
        rng = random.Random(0)
        hits = [DocumentHit(i, "synthetic.txt", "", None, 0.0,
                            " ".join(rng.choice(words) for _ in range(180)))
                for i in range(limit)]  # fmt: skip
    return hits[:limit]


def questions(n: int) -> list[str]:
    if DEV.is_file():
        qs = [json.loads(line)["q"] for line in DEV.read_text().splitlines() if line.strip()]
    else:
        qs = FALLBACK_QUESTIONS
    return [qs[i % len(qs)] for i in range(n)]


def measure(model_dir: Path, pool: list[DocumentHit], qs: list[str], k: int) -> dict[str, Any]:
    reranker = CrossEncoderReranker(model_dir)
    rng = random.Random(0)
    for q in qs[:2]:  # load and warm up
        reranker.rerank(q, rng.sample(pool, k))
    ms: list[float] = []
    cpu_ms: list[float] = []
    for q in qs:
        candidates = rng.sample(pool, k)
        started, cpu_started = time.perf_counter(), time.process_time()
        out = reranker.rerank(q, candidates)
        ms.append((time.perf_counter() - started) * 1000)
        cpu_ms.append((time.process_time() - cpu_started) * 1000)
        assert len(out) == k
    ms_sorted = sorted(ms)
    return {
        "max_length": reranker.max_length,
        "cpu_ms_median": statistics.median(cpu_ms),
        "p50_ms": statistics.median(ms),
        "p95_ms": ms_sorted[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))],
        "mean_ms": statistics.fmean(ms),
        "per_passage_ms": statistics.median(ms) / k,
        "ms": ms,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--queries", type=int, default=20)
    p.add_argument("--candidates", type=int, default=30)
    p.add_argument("--model", type=Path, action="append", default=[],
                   help="also time this cross-encoder folder (repeatable)")  # fmt: skip
    p.add_argument("--skip-built", action="store_true", help="only the --model folders")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads (default: all; 1: no spin-wait in CPU time)")  # fmt: skip
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/rerank_cost.json"))
    args = p.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    pool = passages()
    counts = Chunker().count([f"{h.heading}\n{h.text}" for h in pool])
    qs = questions(args.queries)
    out: dict[str, Any] = {
        "machine": {
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "load_average_1min": os.getloadavg()[0],  # other work on shared cores
        },
        "candidates": args.candidates,
        "queries": len(qs),
        "passage_tokens_median": statistics.median(counts),
        "models": {},
    }
    print(f"{len(pool)} passages (median {out['passage_tokens_median']:.0f} tokens), "
          f"{len(qs)} questions x {args.candidates} candidates, "
          f"{torch.get_num_threads()} torch threads")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        models: dict[str, Path] = {}
        if not args.skip_built:
            models["tiny (2 layers)"] = build_cross_encoder(Path(tmp) / "tiny", layers=2)
            models["minilm-l6 (6 layers)"] = build_cross_encoder(Path(tmp) / "l6", layers=6)
        for folder in args.model:
            models[folder.name] = folder
        print(f"{'model':24} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'ms/passage':>10} "
              f"{'CPU ms':>8}")  # fmt: skip
        for name, folder in models.items():
            r = measure(folder, pool, qs, args.candidates)
            out["models"][name] = r
            print(f"{name:24} {r['p50_ms']:8.0f} {r['p95_ms']:8.0f} {r['mean_ms']:8.0f} "
                  f"{r['per_passage_ms']:10.1f} {r['cpu_ms_median']:8.0f}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
