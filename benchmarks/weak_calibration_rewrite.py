"""Parts 2 and 3 of ``weak_calibration.py``: the query rewrite (keywords
and HyDE) on weak questions, and condensing follow-ups, with the bundled
SmolLM2-135M. Imported by ``weak_calibration.py``, which puts
``benchmarks/`` on ``sys.path``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from weak_calibration_cases import CANDIDATES, FOLLOW_UPS, K, passage_hit

from backend.knowledge.index_store import IndexStore
from backend.rag import query as q
from backend.rag.retrieval import retrieve
from backend.rag.types import Completion, Generate
from backend.runtimes.base import ChatMessage

_HYDE_SHOTS = (
    (
        "How do I get the current date and time?",
        "Use datetime.datetime.now() from the datetime module; date.today() gives the date.",
    ),
    (
        "How can I sort a list of dicts by a key?",
        "Call sorted(items, key=operator.itemgetter('name')) or list.sort with a key function.",
    ),
)


def hyde(question: str, generate: Generate) -> Completion:
    """The hypothetical-answer alternative to ``query.rewrite``."""
    messages = [ChatMessage("system", "Answer in one short sentence naming the Python API.")]
    for shot_q, shot_a in _HYDE_SHOTS:
        messages += [ChatMessage("user", shot_q), ChatMessage("assistant", shot_a)]
    messages.append(ChatMessage("user", question))
    reply = generate(messages, q.REWRITE_TOKENS)
    extra = q.clean_line(reply.text)
    return Completion(f"{question} {extra}".strip(), reply.usage)


def run_rewrites(
    rows: list[dict[str, Any]], weak: list[bool], store: IndexStore, embedder: Any
) -> dict[str, Any]:
    runtime, generate = bundled_generate()
    out: dict[str, Any] = {}
    targets = [r for r, w in zip(rows, weak, strict=True) if w and r["set"] != "off_corpus"]
    for style, fn in (("keywords", q.rewrite), ("hyde", hyde)):
        per = []
        for r in targets:
            started = time.perf_counter()
            completion = fn(r["q"], generate)
            ms = (time.perf_counter() - started) * 1000
            first = retrieve(store, embedder, r["q"], k=K, candidates=CANDIDATES)
            second = retrieve(store, embedder, completion.text, k=K, candidates=CANDIDATES)
            merged = q.merge(first.hits, second.hits, K)
            after_hit = passage_hit(merged, r["gold"], r["answer"])
            second_hit = passage_hit(second.hits, r["gold"], r["answer"])
            helped = q.rewrite_helped(first.signals, second.signals)
            per.append(
                {
                    "q": r["q"],
                    "query": completion.text,
                    "ms": ms,
                    "before": r["hit"],
                    "second_alone": second_hit,
                    "merged": after_hit,
                    "helped_flag": helped,
                    "dense_top_after": second.signals.dense_top,
                }
            )
            print(
                f"{style:<8} {'Y' if r['hit'] else '-'}->{'Y' if after_hit else '-'} "
                f"helped={'Y' if helped else '-'} {ms:6.0f}ms  {completion.text[:90]!r}"
            )
        n = len(per)
        changed = [p for p in per if p["merged"] != p["before"]]
        out[style] = {
            "questions": n,
            "hit_before": sum(p["before"] for p in per),
            "hit_second_alone": sum(p["second_alone"] for p in per),
            "hit_merged": sum(p["merged"] for p in per),
            "helped_flag_true": sum(p["helped_flag"] for p in per),
            "helped_flag_on_gains": sum(p["helped_flag"] for p in per if p["merged"] > p["before"]),
            "gains": sum(p["merged"] > p["before"] for p in per),
            "losses": sum(p["merged"] < p["before"] for p in per),
            "changed": len(changed),
            "mean_ms": sum(p["ms"] for p in per) / n if n else 0.0,
            "per_question": per,
        }
        summary = {k: v for k, v in out[style].items() if k != "per_question"}
        print(style, json.dumps(summary))
    runtime.close()
    return out


def bundled_generate() -> tuple[Any, Generate]:
    from backend.common.config import Settings
    from backend.common.locations import Locations
    from backend.modelfiles.catalog import BUNDLED_MODEL_NAME
    from backend.runtimes.llamacpp import LlamaCppRuntime

    home = Path(tempfile.mkdtemp(prefix="weakcal-home-"))
    runtime = LlamaCppRuntime(Settings(), Locations(home).ensure())
    (model,) = [m for m in runtime.list_models() if m.name == BUNDLED_MODEL_NAME]
    return runtime, q.generate_with(runtime, model)


def run_condense(store: IndexStore, embedder: Any) -> dict[str, Any]:
    runtime, generate = bundled_generate()
    per = []
    for previous, follow, gold, answer in FOLLOW_UPS:
        history = [ChatMessage("user", previous), ChatMessage("assistant", "(answer)")]
        started = time.perf_counter()
        condensed = q.condense(follow, history, generate)
        ms = (time.perf_counter() - started) * 1000
        fallback = q.fallback_query(follow, history)
        row: dict[str, Any] = {
            "follow_up": follow,
            "condensed": condensed.text,
            "model_used": condensed.text != fallback,
            "ms": ms,
            "flagged": q.needs_condense(follow, history),
        }
        for name, text in (("raw", follow), ("fallback", fallback), ("condensed", condensed.text)):
            hits = retrieve(store, embedder, text, k=K, candidates=CANDIDATES).hits
            row[f"hit_{name}"] = passage_hit(hits, [gold], answer)
        per.append(row)
        print(
            f"raw={'Y' if row['hit_raw'] else '-'} fallback={'Y' if row['hit_fallback'] else '-'} "
            f"condensed={'Y' if row['hit_condensed'] else '-'} "
            f"model={'Y' if row['model_used'] else '-'} {ms:6.0f}ms {condensed.text[:70]!r}"
        )
    runtime.close()
    summary = {
        "questions": len(per),
        "flagged": sum(p["flagged"] for p in per),
        "model_used": sum(p["model_used"] for p in per),
        **{f"hit_{n}": sum(p[f"hit_{n}"] for p in per) for n in ("raw", "fallback", "condensed")},
        "mean_ms": sum(p["ms"] for p in per) / len(per),
    }
    print("condense", json.dumps(summary))
    return {**summary, "per_question": per}
