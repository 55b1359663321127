"""Does a query adapter fitted to the index find the right passage more often?

Builds the structure-derived training pairs from an already built index
(``trainer.query_adapter_data``: entry names, entry descriptions, section
titles, prose sentences -- never the evaluation questions), holds out 10%
of the sections, fits each adapter kind on the rest, and reports:

- the synthetic held-out task (top-1 and MRR@10 of each query's own chunk
  among all chunks), plain query side vs adapted;
- the shared dev question sets through ``backend.rag.retrieval.retrieve``
  (exactly what chat uses), dense and hybrid, plain vs adapted, in the same
  run, as ``benchmarks/retrieval_tuning.py`` scores them.

Usage::

    python benchmarks/query_adapter_eval.py [--home /work/kb_full]
        [--kinds linear,encoder] [--out benchmarks/results/query_adapter.json]

Adapters are saved under ``--save`` (default: a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from retrieval_tuning import SETS, VARIANTS, CachingEmbedder, run_variant

from backend.knowledge.embedder import SentenceTransformerEmbedder, bundled_embedder_dir
from backend.knowledge.index_store import IndexStore
from backend.rag.evaluate import load_questions
from backend.store.db import Database
from trainer.query_adapter import (
    AdapterConfig,
    apply_linear,
    rank_metrics,
    train_encoder,
    train_linear,
    write_run,
)
from trainer.query_adapter_data import pairs_from_chunks, split_pairs
from trainer.query_adapter_embedder import QueryAdaptedEmbedder
from trainer.query_adapter_index import index_passages, index_rows

CONFIGS = {
    "linear": AdapterConfig(kind="linear", epochs=3, batch_size=64, learning_rate=1e-3),
    "linear-free": AdapterConfig(
        kind="linear", epochs=5, batch_size=64, learning_rate=1e-3, identity_penalty=0.01
    ),
    "encoder": AdapterConfig(kind="encoder", epochs=1, batch_size=32, learning_rate=2e-5),
}


def _printer(kind: str) -> Callable[[int, int, float], None]:
    def progress(step: int, total: int, loss: float) -> None:
        if step % 50 == 0 or step == total:
            print(f"  {kind} step {step}/{total} loss {loss:.3f}", flush=True)

    return progress


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=Path("/work/kb_full"))
    parser.add_argument("--kinds", default="linear,encoder")
    parser.add_argument("--max-pairs", type=int, default=0, help="0: all")
    parser.add_argument("--save", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/query_adapter.json"))
    args = parser.parse_args()
    save = args.save or Path(tempfile.mkdtemp(prefix="query-adapter-"))
    db = Database(args.home / "assistant.db")
    store = IndexStore(db)
    passages = index_passages(store)
    pairs = pairs_from_chunks(index_rows(store))
    train, heldout = split_pairs(pairs, 0.1)
    if args.max_pairs:
        train = train[: args.max_pairs]
    kinds_count: dict[str, int] = {}
    for p in pairs:
        kinds_count[p.kind] = kinds_count.get(p.kind, 0) + 1
    print(f"{len(passages.ids)} chunks; pairs {kinds_count}")
    print(f"train {len(train)}, held out {len(heldout)}")

    plain = SentenceTransformerEmbedder()
    started = time.perf_counter()
    cache = save / f"plain-queries-{len(train)}-{len(heldout)}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            train_vecs, held_vecs = data["train"], data["heldout"]
    else:
        train_vecs = plain.embed_queries([p.query for p in train])
        held_vecs = plain.embed_queries([p.query for p in heldout])
        save.mkdir(parents=True, exist_ok=True)
        np.savez(cache, train=train_vecs, heldout=held_vecs)
    embed_s = time.perf_counter() - started
    held_rows = passages.rows([p.chunk_id for p in heldout])
    report: dict[str, Any] = {
        "index": store.counts(),
        "pairs": kinds_count,
        "train": len(train),
        "heldout_n": len(heldout),
        "embed_queries_s": round(embed_s, 1),
        "heldout": {"plain": rank_metrics(held_vecs, held_rows, passages.vectors)},
        "machine": platform.platform(),
    }
    print(f"plain held-out: {report['heldout']['plain']} (queries embedded in {embed_s:.0f} s)")

    embedders: dict[str, Any] = {"plain": CachingEmbedder(plain)}
    for kind in [k for k in args.kinds.split(",") if k]:
        config = CONFIGS[kind]
        started = time.perf_counter()
        progress = _printer(kind)
        linear, encoder = None, None
        if config.kind == "linear":
            weight, bias, _ = train_linear(train_vecs, train, passages, config, progress)
            linear = (weight, bias)
            seconds = time.perf_counter() - started
            adapted = apply_linear(held_vecs, weight, bias)
        else:
            encoder, _ = train_encoder(bundled_embedder_dir(), train, passages, config, progress)
            seconds = time.perf_counter() - started
            adapted = encoder.encode(
                [p.query for p in heldout], normalize_embeddings=True, convert_to_numpy=True
            )
        metrics = rank_metrics(adapted, held_rows, passages.vectors)
        out = write_run(
            save / kind,
            config,
            plain.name,
            passages,
            kinds_count,
            {"plain": report["heldout"]["plain"], "adapted": metrics},
            seconds,
            linear=linear,
            encoder=encoder,
        )
        report["heldout"][kind] = {**metrics, "train_s": round(seconds, 1)}
        print(f"{kind} held-out: {metrics} ({seconds:.0f} s)")
        embedders[kind] = CachingEmbedder(QueryAdaptedEmbedder(plain, out))

    rows = []
    for set_name, path in SETS.items():
        questions = load_questions(path)
        print(f"\n## {set_name} ({len(questions)})")
        print(f"{'query side':<13}{'mode':<8}{'R@1':>7}{'MRR':>7}{'pR@1':>7}{'pR@5':>7}{'pMRR':>7}")
        for name, embedder in embedders.items():
            for mode in ("dense", "hybrid"):
                row = run_variant(mode, VARIANTS[mode], store, embedder, questions, set_name, 10)
                m = row.metrics
                print(
                    f"{name:<13}{mode:<8}{m['recall@1']:>7.3f}{m['mrr@10']:>7.3f}"
                    f"{m['passage_recall@1']:>7.3f}{m['passage_recall@5']:>7.3f}"
                    f"{m['passage_mrr@10']:>7.3f}"
                )
                rows.append({**asdict(replace(row, variant=f"{name}/{mode}"))})
    report["rows"] = rows
    report["configs"] = {k: asdict(v) for k, v in CONFIGS.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {args.out}; adapters in {save}")
    db.close()


if __name__ == "__main__":
    main()
