"""Our retrieval against the issue's naive pipeline, on every question set,
with the loss analysis and cross-validated levers (issue 19).

Builds (or reuses, ``compare_indexes.py``) two indexes per corpus -- ours
through ``KnowledgeBase.index()`` and the naive one -- then, for the dev
sets (``shared/eval``) and the frozen set (``benchmarks/questions``):

1. one table, passage R@1 / R@5 / MRR@10 per set, for keyword, dense, the
   naive pipeline, hybrid and ``default`` (what chat uses: hybrid, then the
   bundled SmolLM2 rewrites when retrieval looks weak; ``--no-rewrite``
   skips the model and reports hybrid as default);
2. the loss analysis: for each question where naive ranks the answer
   passage higher than the first stage the issue measured (scaled bm25
   0.1, the full diversity step, cap 3), its cause (``compare_cv.classify``),
   counted per set; per-question detail only for the dev sets (the frozen
   set's rule: no per-question results);
3. a grid of query-time variants (index x fusion x diversity) over cached
   lists (``compare_runs``), cross-validated over all questions pooled
   (``compare_cv``): mean +- SE per variant, the selection rule's held-out
   score, and one-lever-at-a-time rows for the README's lever table.

Usage::

    python benchmarks/retrieval_compare.py --work DIR [--corpus DIR]
        [--include '*.html'] [--whole] [--no-rewrite] [--out FILE]

``--whole`` adds the whole folder (no include globs) as a second corpus.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from compare_cv import classify, count_causes, cross_validate, folds, mean_se
from compare_indexes import BuildSpec, build, build_info
from compare_runs import (
    NAIVE,
    CachingEmbedder,
    IndexRun,
    Variant,
    check_replay,
    load_lists,
    passage_rank,
    ranking,
)
from inputs import CORPUS, DEV, FACTS_DEV, FROZEN

from backend.knowledge.embedder import Embedder, SentenceTransformerEmbedder
from backend.knowledge.search import Fusion
from backend.rag.evaluate import Question, load_questions
from backend.rag.retrieval import Diversity
from backend.store.db import Database

SETS = {"dev": DEV, "facts": FACTS_DEV, "frozen": FROZEN}
DETAIL_SETS = ("dev", "facts")  # never the frozen set, per question


def _f(**kw: Any) -> Any:
    """A fusion spelled out in full (never relative to today's default)."""
    base = Fusion(method="scaled", rrf_k=60, keyword_weight=0.1, dense_weight=1.0)
    return replace(base, bm25_weights=(1.0, 0.5), stop_words=True, pool_per_k=4, **kw)


FUSIONS: dict[str, tuple[dict[str, Any], int]] = {
    "dense": ({"mode": "dense"}, 0),
    "rrf60": ({"fusion": _f(method="rrf", rrf_k=60, keyword_weight=1.0)}, 1),
    "rrf60-d2": ({"fusion": _f(method="rrf", rrf_k=60, keyword_weight=1.0, dense_weight=2.0)}, 2),
    "rrf10-d2": ({"fusion": _f(method="rrf", rrf_k=10, keyword_weight=1.0, dense_weight=2.0)}, 2),
    "minmax-d4": ({"fusion": _f(method="minmax", keyword_weight=1.0, dense_weight=4.0)}, 2),
    "scaled.05": ({"fusion": _f(keyword_weight=0.05)}, 2),
    "scaled.1": ({"fusion": _f(method="scaled", keyword_weight=0.1)}, 2),
    "scaled.2": ({"fusion": _f(keyword_weight=0.2)}, 2),
    "scaled.3": ({"fusion": _f(keyword_weight=0.3)}, 2),
}
OFF = Diversity(collapse_duplicates=False, defer_neighbours=False, min_body_chars=0)
MINBODY = replace(OFF, min_body_chars=20)
DEDUP_MINBODY = replace(MINBODY, collapse_duplicates=True)
FULL = Diversity(collapse_duplicates=True, defer_neighbours=True, min_body_chars=20)
"""The diversity step before issue 19 (with ``max_per_document`` 3)."""
DIVERSITIES: dict[str, tuple[dict[str, Any], int]] = {
    "off": ({"diversity": None}, 0),
    "cap3": ({"diversity": OFF, "max_per_document": 3}, 1),
    "minbody": ({"diversity": MINBODY, "max_per_document": 100}, 1),
    "dedup-minbody": (
        {"diversity": replace(MINBODY, collapse_duplicates=True), "max_per_document": 100},
        2,
    ),
    "full-noneighbour": (
        {"diversity": replace(FULL, defer_neighbours=False), "max_per_document": 3},
        2,
    ),
    "full": ({"diversity": FULL, "max_per_document": 3}, 3),
}
LEVERS: dict[str, str] = {  # one lever at a time, as README rows
    "hybrid": "today's default first stage (hybrid)",
    "ours/scaled.1/full": "old default (scaled bm25 0.1, full diversity, cap 3, structured chunks)",
    "ours/rrf60/full": "fusion: RRF k = 60, equal weights",
    "ours/rrf60-d2/full": "fusion: RRF k = 60, dense x2",
    "ours/minmax-d4/full": "fusion: min-max, dense x4",
    "ours/scaled.2/full": "fusion: scaled bm25 0.2",
    "ours/scaled.3/full": "fusion: scaled bm25 0.3",
    "ours/dense/full": "no keyword list (dense only)",
    "ours/scaled.1/off": "no diversity step",
    "ours/scaled.1/cap3": "diversity: only the per-file cap 3",
    "ours/scaled.1/minbody": "diversity: only heading-only chunks held back",
    "ours/scaled.1/full-noneighbour": "diversity: neighbours not held back",
    "ours/scaled.1/full+cand60": "60 candidates instead of 30",
    "ours/scaled.1/full+plainbm25": "bm25 plain (equal column weights, stop words kept)",
    "naive/scaled.1/full": "naive chunks (plain text, 180 words, title) with our query side",
    "naive/rrf60/full": "naive chunks, RRF k = 60, our diversity",
    "naive/naive": "the naive pipeline",
}


def grid() -> dict[str, tuple[str, Variant]]:
    out: dict[str, tuple[str, Variant]] = {}
    for index in ("ours", "naive"):
        for fname, (fkw, fs) in FUSIONS.items():
            for dname, (dkw, ds) in DIVERSITIES.items():
                simple = fs + ds + (index == "naive")
                out[f"{index}/{fname}/{dname}"] = (index, Variant(**fkw, **dkw, simplicity=simple))
        out[f"{index}/naive"] = (index, replace(NAIVE, simplicity=1 + (index == "naive")))
    old = {**FUSIONS["scaled.1"][0], **DIVERSITIES["full"][0]}
    out["ours/scaled.1/full+cand60"] = ("ours", Variant(**old, candidates=60, simplicity=5))
    out["ours/scaled.1/full+plainbm25"] = ("ours", Variant(**old, plain_bm25=True, simplicity=6))
    return out


def metrics(ranks: list[int | None]) -> dict[str, float]:
    n = max(1, len(ranks))
    return {
        "pR@1": sum(r == 1 for r in ranks) / n,
        "pR@5": sum(r is not None and r <= 5 for r in ranks) / n,
        "pMRR": sum(1 / r for r in ranks if r is not None) / n,
    }


def default_ranks(db: Database, embedder: Embedder, qs: list[Question], root: Path) -> Any:
    """What chat uses (``RagPipeline`` mode ``default``, SmolLM2 rewrites)."""
    from weak_calibration_rewrite import bundled_generate

    from backend.common.config import RagSettings
    from backend.knowledge.service import KnowledgeBase
    from backend.rag.pipeline import RagPipeline

    pipeline = RagPipeline(KnowledgeBase(db, embedder), RagSettings())
    runtime, generate = bundled_generate()
    ranks, weak, helped = [], 0, 0
    for q in qs:
        res = pipeline.retrieve(q.q, mode="default", k=10, generate=generate)
        ranks.append(passage_rank(q, res.hits, root))
        weak += bool(res.weak)
        helped += bool(res.rewrite_helped)
    runtime.close()
    return ranks, {"weak": weak, "rewrite_helped": helped}


def answer_state(db: Database, q: Question, root: Path) -> str:
    """How the answer sits in our index: ``ok`` (some chunk of a gold file
    holds it), ``split`` (the parsed page does, no single chunk) or
    ``absent`` (the parser's text does not, or no gold file is indexed)."""
    from backend.knowledge.parsers import parse_file

    golds = [str(root / g) for g in q.gold]
    marks = ",".join("?" * len(golds))
    row = db.query_one(
        "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id"
        f" WHERE d.path IN ({marks}) AND instr(lower(c.text), lower(?)) > 0",
        (*golds, q.answer),
    )
    if int(row[0]):
        return "ok"
    indexed = db.query_one(f"SELECT count(*) FROM documents WHERE path IN ({marks})", tuple(golds))
    if not int(indexed[0]):
        return "absent"
    texts = [parse_file(Path(g)).text.casefold() for g in golds if Path(g).exists()]
    return "split" if any(q.answer.casefold() in t for t in texts) else "absent"


def run_corpus(
    label: str, corpus: str, include: tuple[str, ...], work: Path, embedder: Any, args: Any
) -> dict[str, Any]:
    specs = {p: BuildSpec(f"{p}-{label}", corpus, p, include=include) for p in ("ours", "naive")}
    runs = {
        p: IndexRun(p, Path(corpus), Database(build(s, work, embedder))) for p, s in specs.items()
    }
    names, qs = [], []
    for set_name, path in SETS.items():
        for q in load_questions(path):
            names.append(set_name)
            qs.append(q)
    for run in runs.values():
        load_lists(run, embedder, qs)
    root = Path(corpus)
    replay = check_replay(runs["ours"], embedder, qs)
    print(f"[{label}] replay identical to retrieve(): {replay}", flush=True)
    variants = grid()
    ranks = {
        v: [passage_rank(q, ranking(runs[ix], i, var), root) for i, q in enumerate(qs)]
        for v, (ix, var) in variants.items()
    }
    ranks["hybrid"] = [
        passage_rank(q, ranking(runs["ours"], i, Variant()), root) for i, q in enumerate(qs)
    ]
    ranks["ours/keyword"] = [
        passage_rank(q, ranking(runs["ours"], i, Variant(mode="keyword")), root)
        for i, q in enumerate(qs)
    ]
    rewrite_info: dict[str, Any] = {"skipped": True}
    if args.no_rewrite:
        ranks["default"] = ranks["hybrid"]
    else:
        ranks["default"], rewrite_info = default_ranks(runs["ours"].db, embedder, qs, root)
    per_set = {
        s: {
            v: metrics([r for r, n in zip(rs, names, strict=True) if n == s])
            for v, rs in ranks.items()
        }
        for s in SETS
    }
    # -- loss analysis
    old = "ours/scaled.1/full"  # the first stage the issue measured
    lever_of = {"nodiv": "ours/scaled.1/off",
                "rrf": "ours/rrf60/full", "plainbm25": "ours/scaled.1/full+plainbm25",
                "index": "naive/scaled.1/full"}  # fmt: skip
    causes, detail = [], []
    for i, q in enumerate(qs):
        state = answer_state(runs["ours"].db, q, root)
        cause = classify(
            ranks["naive/naive"][i],
            ranks[old][i],
            lambda lever, i=i: ranks[lever_of[lever]][i],  # type: ignore[misc]
            state,
        )
        causes.append(cause)
        if names[i] in DETAIL_SETS and cause is not None:
            detail.append(
                {
                    "set": names[i],
                    "q": q.q,
                    "answer": q.answer,
                    "cause": cause,
                    "naive": ranks["naive/naive"][i],
                    "ours": ranks[old][i],
                }
            )
    losses = {
        s: count_causes([c for c, n in zip(causes, names, strict=True) if n == s]) for s in SETS
    }
    wins = {
        s: sum(
            (ranks[old][i] or 99) < (ranks["naive/naive"][i] or 99)
            for i in range(len(qs))
            if names[i] == s
        )
        for s in SETS
    }
    # -- cross-validation on passage MRR@10
    fold_of = folds(names)
    scores = {v: [1 / r if r else 0.0 for r in ranks[v]] for v in variants}
    cv = cross_validate(scores, {v: var.simplicity for v, (_, var) in variants.items()}, fold_of)
    scores["default"] = [1 / r if r else 0.0 for r in ranks["default"]]
    pairs = [("default", "ours/scaled.1/full"), ("default", "naive/naive"),
             ("ours/scaled.1/dedup-minbody", "ours/scaled.1/full"),
             ("ours/scaled.3/dedup-minbody", "ours/scaled.1/dedup-minbody"),
             ("ours/rrf60/dedup-minbody", "ours/scaled.1/dedup-minbody")]  # fmt: skip
    paired = {}
    for a, b in pairs:
        m, se = mean_se([x - y for x, y in zip(scores[a], scores[b], strict=True)])
        paired[f"{a} - {b}"] = {"mean": m, "se": se}
        print(f"[{label}] paired pMRR {a} - {b}: {m:+.3f} ± {se:.3f}", flush=True)
    return {
        "paired_pmrr": paired,
        "indexes": {p: build_info(s, work) for p, s in specs.items()},
        "replay": replay,
        "rewrite": rewrite_info,
        "per_set": per_set,
        "losses": losses,
        "wins": wins,
        "loss_detail_dev_sets": detail,
        "cv": cv,
    }


def show(label: str, r: dict[str, Any]) -> None:
    ps = r["per_set"]
    head = " | ".join(f"{s} pR@1 / pR@5 / pMRR" for s in SETS)
    print(f"\n## {label}: one run\n\n| mode | {head} |")
    rows = {"keyword": "ours/keyword", "dense": "ours/dense/full", "naive": "naive/naive",
            "hybrid": "hybrid", "default": "default"}  # fmt: skip
    for name, key in rows.items():
        cells = " | ".join(
            " / ".join(f"{ps[s][key][m]:.2f}" if m != "pMRR" else f"{ps[s][key][m]:.3f}"
                       for m in ("pR@1", "pR@5", "pMRR")) for s in SETS)  # fmt: skip
        print(f"| {name} | {cells} |")
    print(f"\n## {label}: losses to naive (wins {r['wins']})\n")
    print("| cause | " + " | ".join(SETS) + " |")
    for cause in next(iter(r["losses"].values())):
        print(f"| {cause} | " + " | ".join(str(r["losses"][s][cause]) for s in SETS) + " |")
    cv = r["cv"]["per_variant"]
    print(f"\n## {label}: levers (pR@1 / pMRR per set; CV pMRR mean +- SE)\n")
    for key, text in LEVERS.items():
        if key not in cv:
            cv[key] = {"mean": float("nan"), "se": float("nan")}
        cells = " | ".join(f"{ps[s][key]['pR@1']:.2f} / {ps[s][key]['pMRR']:.3f}" for s in SETS)
        print(f"| {text} | {cells} | {cv[key]['mean']:.3f} ± {cv[key]['se']:.3f} |")
    best = sorted(cv, key=lambda v: -cv[v]["mean"])[:8]
    print("\nbest by CV: " + ", ".join(f"{v} {cv[v]['mean']:.3f}±{cv[v]['se']:.3f}" for v in best))
    print(f"selection: {json.dumps(r['cv']['selection'])}")
    print(f"chosen on all: {r['cv']['chosen_on_all']}")
    print(f"within noise: {r['cv']['within_noise_on_all']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="where indexes are cached")
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--include", default="*.html", help="globs for the pages corpus")
    parser.add_argument("--label", default="html")
    parser.add_argument("--whole", action="store_true", help="also the whole folder")
    parser.add_argument("--no-rewrite", action="store_true", help="default = hybrid, no model")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/retrieval_compare.json")
    )
    args = parser.parse_args()
    embedder = CachingEmbedder(SentenceTransformerEmbedder())
    corpora = [(args.label, tuple(g for g in args.include.split(",") if g))]
    if args.whole:
        corpora.append((f"{args.label}-whole", ()))
    out: dict[str, Any] = {"machine": platform.platform(), "corpus": args.corpus, "runs": {}}
    for label, include in corpora:
        result = run_corpus(label, args.corpus, include, args.work, embedder, args)
        out["runs"][label] = result
        show(label, result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"\nwrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
