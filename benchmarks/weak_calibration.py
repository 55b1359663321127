"""When is first-stage retrieval weak, and does a model rewrite then help?

Part 1 (thresholds): every dev question (``/work/shared/eval``
``pydocs_dev.jsonl`` + ``pydocs_facts_dev.jsonl``) goes through
``backend.rag.retrieval.retrieve`` exactly as the chat pipeline calls it
(hybrid, k=6, 30 candidates), over a copy of a full-corpus index
(``--db``, default ``/work/kb_full/assistant.db``; copied with SQLite's
backup API because the original may be read-only or still being written).
Per question it records the ``RetrievalSignals`` and whether the top 5 hold
a passage-level hit (a chunk of a gold file whose text contains ``answer``,
case-insensitive). It then grid-searches the rule of
``backend.rag.query.WeakThresholds``

    weak = dense_top < T_top  or  dense_gap < T_gap  or  overlap < T_ovl

for the thresholds with the best F1 of "weak" against "retrieval failed"
(ties: fewer flags), and reports precision and recall of the flag for those
and for the module's current constants. ``OFF_CORPUS`` questions (nothing
in the Python docs answers them) join as failures, so the cosine threshold
is set by what a miss looks like rather than only by the dev set's closest
hits. To see how far 55 questions generalise, it also calibrates on each
question file alone and scores the other.

Part 2 (``--rewrite``): on the questions the current constants flag weak
(``--rewrite-on all``: on every answerable question, a larger sample),
runs ``backend.rag.query.rewrite`` (keyword expansion) and a hypothetical-
answer variant (HyDE: the model writes a short answer, searched together
with the question) with the bundled SmolLM2-135M, searches again, fuses with
``merge`` and reports passage-level hit@5 before and after, and how often
``rewrite_helped`` agreed with a real change.

Part 3 (``--condense``): ``FOLLOW_UPS`` (follow-ups written for this
benchmark on dev-set topics, each with a gold page and answer string) are
searched raw, as ``fallback_query`` (previous question + follow-up) and as
``condense`` with SmolLM2 makes them; reports passage-level hit@5 of each
and how often the model's question was used rather than the fallback.

Prints tables; writes JSON to ``--out`` (default
``benchmarks/results/weak_calibration.json``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sqlite3
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from backend.knowledge.embedder import SentenceTransformerEmbedder
from backend.knowledge.index_store import IndexStore
from backend.knowledge.records import SearchHit
from backend.rag import query as q
from backend.rag.retrieval import retrieve
from backend.rag.types import Completion, Generate, RetrievalSignals
from backend.runtimes.base import ChatMessage
from backend.store.db import Database

QUESTIONS = (
    Path("/work/shared/eval/pydocs_dev.jsonl"),
    Path("/work/shared/eval/pydocs_facts_dev.jsonl"),
)
K = 6
CANDIDATES = 30
AT = 5
TOP_GRID = [round(0.30 + 0.01 * i, 2) for i in range(41)]
GAP_GRID = [0.0, 0.02, 0.03, 0.035, 0.04, 0.045, 0.05, 0.06, 0.08]
OVL_GRID = [0.0, 0.34, 0.5, 0.67, 0.84, 1.0]
OFF_CORPUS = (
    "How long should sourdough bread proof in the fridge?",
    "What is the capital of Australia?",
    "How do I change a flat tyre on a bicycle?",
    "Who painted the Mona Lisa?",
    "How do I configure a VLAN on a Cisco switch?",
    "What are the symptoms of vitamin D deficiency?",
)

FOLLOW_UPS = (  # (previous question, follow-up, gold page, answer)
    (
        "Which module lets me read and write JSON?",
        "and how do I pretty-print with it?",
        "library/json.html",
        "indent",
    ),
    (
        "How do I read a zip archive and list the files inside it?",
        "and how do I extract all of them?",
        "library/zipfile.html",
        "extractall",
    ),
    (
        "How do I walk a directory tree top-down, getting directories and files at each level?",
        "does it follow symbolic links?",
        "library/os.html",
        "followlinks",
    ),
    (
        "How can I run several coroutines concurrently and wait for all of them?",
        "what about a timeout?",
        "library/asyncio-task.html",
        "wait_for",
    ),
    (
        "How do I use regular expressions to find all matches in a string?",
        "and how do I replace them?",
        "library/re.html",
        "re.sub",
    ),
    (
        "How do I make a shallow or deep copy of a nested list?",
        "how do I customise it for my own class?",
        "library/copy.html",
        "__deepcopy__",
    ),
    (
        "How do I write unit tests with assertion methods?",
        "how do I skip one of them?",
        "library/unittest.html",
        "skip",
    ),
    (
        "How can I replace an object with a fake during a test?",
        "can it check how it was called?",
        "library/unittest.mock.html",
        "assert_called_with",
    ),
)

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


def load_questions() -> list[dict[str, Any]]:
    out = []
    for path in QUESTIONS:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append({**json.loads(line), "set": path.stem})
    return out


def passage_hit(hits: list[SearchHit], gold: list[str], answer: str) -> bool:
    needle = answer.lower()
    return any(
        any(h.path.endswith("/" + g) or h.path == g for g in gold) and needle in h.text.lower()
        for h in hits[:AT]
    )


def copy_db(src: Path, dest: Path) -> Database:
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dest)
    source.backup(target)
    source.close()
    target.close()
    return Database(dest)


def flags(rows: list[dict[str, Any]], th: q.WeakThresholds) -> list[bool]:
    return [q.is_weak(RetrievalSignals(**r["signals"]), th) for r in rows]


def scores(rows: list[dict[str, Any]], weak: list[bool]) -> dict[str, float]:
    failed = [not r["hit"] for r in rows]
    tp = sum(w and f for w, f in zip(weak, failed, strict=True))
    flagged, fails = sum(weak), sum(failed)
    precision = tp / flagged if flagged else 0.0
    recall = tp / fails if fails else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    ok_flagged = flagged - tp
    return {
        "flagged": flagged,
        "failed": fails,
        "true_positives": tp,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "false_alarm_rate": ok_flagged / (len(rows) - fails) if len(rows) > fails else 0.0,
    }


def calibrate(rows: list[dict[str, Any]]) -> tuple[q.WeakThresholds, dict[str, float]]:
    best: tuple[tuple[float, int], q.WeakThresholds, dict[str, float]] | None = None
    for top, gap, ovl in itertools.product(TOP_GRID, GAP_GRID, OVL_GRID):
        th = q.WeakThresholds(dense_top=top, dense_gap=gap, overlap=ovl)
        s = scores(rows, flags(rows, th))
        key = (s["f1"], -int(s["flagged"]))
        if best is None or key > best[0]:
            best = (key, th, s)
    assert best is not None
    return best[1], best[2]


def _other(name: str) -> str:
    return "pydocs_facts_dev" if name == "pydocs_dev" else "pydocs_dev"


def print_rows(rows: list[dict[str, Any]], weak: list[bool]) -> None:
    print(
        f"{'set':<18} {'hit':>3} {'weak':>4} {'top':>5} {'gap':>5} {'ovl':>4} {'kw':>6}  question"
    )
    for r, w in sorted(zip(rows, weak, strict=True), key=lambda x: x[0]["signals"]["dense_top"]):
        s = r["signals"]
        print(
            f"{r['set']:<18} {'Y' if r['hit'] else '-':>3} {'W' if w else '':>4} "
            f"{s['dense_top']:5.3f} {s['dense_gap']:5.3f} {s['overlap']:4.2f} "
            f"{s['keyword_hits']:6d}  {r['q'][:60]}"
        )


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
    from backend.config import Settings
    from backend.locations import Locations
    from backend.models import BUNDLED_MODEL_NAME
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, default=Path("/work/kb_full/assistant.db"))
    parser.add_argument("--rewrite", action="store_true", help="also measure the rewrite")
    parser.add_argument("--condense", action="store_true", help="also measure condensing")
    parser.add_argument(
        "--rewrite-on",
        choices=("weak", "all"),
        default="weak",
        help="rewrite only the questions flagged weak, or every answerable one",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/weak_calibration.json")
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="weakcal-"))
    db = copy_db(args.db, tmp / "assistant.db")
    store = IndexStore(db)
    embedder = SentenceTransformerEmbedder()
    embedder.embed(["warm up"])
    rows = []
    for item in load_questions():
        result = retrieve(store, embedder, item["q"], k=K, candidates=CANDIDATES)
        rows.append(
            {
                "set": item["set"],
                "q": item["q"],
                "gold": item["gold"],
                "answer": item["answer"],
                "hit": passage_hit(result.hits, item["gold"], item["answer"]),
                "signals": asdict(result.signals),
            }
        )
    for text in OFF_CORPUS:
        result = retrieve(store, embedder, text, k=K, candidates=CANDIDATES)
        rows.append(
            {
                "set": "off_corpus",
                "q": text,
                "gold": [],
                "answer": "",
                "hit": False,
                "signals": asdict(result.signals),
            }
        )
    current = q.DEFAULT_THRESHOLDS
    weak_now = flags(rows, current)
    print_rows(rows, weak_now)
    best, best_scores = calibrate(rows)
    now_scores = scores(rows, weak_now)
    answerable = [r for r in rows if r["set"] != "off_corpus"]
    print(f"\nhit@{AT}: {sum(r['hit'] for r in answerable)}/{len(answerable)}")
    print("module constants", asdict(current), json.dumps(now_scores))
    print("best on grid    ", asdict(best), json.dumps(best_scores))
    cross = {}
    for train in ("pydocs_dev", "pydocs_facts_dev"):
        fit, _ = calibrate([r for r in rows if r["set"] != _other(train)])
        test = [r for r in rows if r["set"] == _other(train)]
        cross[train] = {"thresholds": asdict(fit), **scores(test, flags(test, fit))}
        print(
            f"fit without {_other(train):<17} scored on it", asdict(fit), json.dumps(cross[train])
        )
    report: dict[str, Any] = {
        "cross": cross,
        "db": str(args.db),
        "chunks": store.counts(),
        "k": K,
        "candidates": CANDIDATES,
        "at": AT,
        "rows": rows,
        "current": {"thresholds": asdict(current), **now_scores},
        "best": {"thresholds": asdict(best), **best_scores},
    }
    if args.rewrite:
        chosen = weak_now if args.rewrite_on == "weak" else [True] * len(rows)
        report["rewrite"] = run_rewrites(rows, chosen, store, embedder)
        report["rewrite_on"] = args.rewrite_on
    if args.condense:
        report["condense"] = run_condense(store, embedder)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")
    db.close()


if __name__ == "__main__":
    main()
