"""The query side of RAG: condensing follow-ups and rewriting weak queries.

Two hidden model calls can happen before retrieval, and both are gated by
cheap checks so that a standalone question with good retrieval costs none:

* ``needs_condense`` decides from the words alone (no model) whether a
  question leans on earlier turns ("and what about its timeout?"); only then
  ``condense`` asks the model for a standalone question (``condense.py``).
* ``is_weak`` decides from the first search's own signals (cosine of the best
  dense hit, its lead over the fifth, keyword/dense agreement) whether
  retrieval looks weak; only then ``rewrite`` asks the model once for a
  keyword expansion, the pipeline searches again and, when
  ``rewrite_helped`` says the second search found closer passages, ``merge``
  fuses both rankings (``[rag] merge_only_if_helped``; merging a rewrite that
  did not help cost 0.04 of passage R@1 on the facts dev set). Whether it
  fired and whether it helped is what the request log records.

Both model calls go through ``Generate`` (see ``generate_with``), greedy and
short, so their cost is bounded (<= 48 new tokens each).

Measurements behind the constants are in the docstrings below; the scripts
are ``benchmarks/weak_calibration.py`` (thresholds, rewrite effect).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from backend.common import tracing
from backend.knowledge.records import DocumentHit
from backend.modelfiles.catalog import ModelInfo
from backend.rag.condense import MAX_QUERY_WORDS, clean_line, word_list
from backend.rag.types import Completion, Generate, RetrievalSignals
from backend.runtimes.base import (
    ChatMessage,
    GenerationParams,
    GenerationRequest,
    Runtime,
    complete,
)
from backend.runtimes.logged import logged_inputs

# ---------------------------------------------------------------- generate


def generate_with(
    runtime: Runtime, model: ModelInfo, params: GenerationParams | None = None
) -> Generate:
    """A ``Generate`` running hidden completions on ``runtime``/``model``.

    Greedy (temperature 0, fixed seed) whatever ``params`` say, so a hidden
    call gives the same query for the same question and the request log can
    be replayed; stops at the first newline by default because every hidden
    prompt here asks for one line and SmolLM2 otherwise keeps going with a
    made-up next turn (seen in 4 of 5 probes with a plain-text prompt).

    Raises:
        ModelError: the runtime reported an error.
    """
    base = params or GenerationParams(stop=("\n",))
    base = replace(base, temperature=0.0, seed=base.seed if base.seed is not None else 1)

    def generate(messages: list[ChatMessage], max_tokens: int) -> Completion:
        params = replace(base, max_tokens=max_tokens)
        tracing.current().set(
            tracing.model_call_attributes(
                runtime.name,
                model.name,
                response_model=model.log_name,
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=max_tokens,
                seed=params.seed,
            )
        )
        request = GenerationRequest(model, messages, params)
        text, usage = complete(runtime, request)
        return Completion(text, usage, logged_inputs(request, text))

    return generate


# ---------------------------------------------------------------- weak


@dataclass(frozen=True)
class WeakThresholds:
    """Retrieval is weak when any signal is below its threshold: the best
    dense cosine (``dense_top``), its lead over the fifth (``dense_gap``), or
    the share of the final hits that keyword and dense search both found
    (``overlap``). See ``DEFAULT_THRESHOLDS`` for the measurement."""

    dense_top: float
    dense_gap: float
    overlap: float


DEFAULT_THRESHOLDS = WeakThresholds(dense_top=0.40, dense_gap=0.04, overlap=0.67)
"""Calibrated with ``benchmarks/weak_calibration.py`` on the full python3.11-doc
index (530 pages, MiniLM, hybrid, k=6 of 30 candidates, as the pipeline runs):
55 dev questions (45 with a passage-level hit in the top 5, 10 without) plus
6 off-corpus questions (bread, tyres, Mona Lisa ...) counted as misses.

* ``dense_top`` separates "not in these documents" cleanly: off-corpus
  0.21-0.32, every answerable question 0.51-0.78. 0.40 sits in the middle;
  any value in 0.33-0.50 scores the same. It does *not* separate in-corpus
  hits from misses (misses 0.59-0.76, hits 0.51-0.78).
* ``dense_gap`` < 0.04 (best barely ahead of the fifth: many near-equal
  passages) flags 4 of the 10 in-corpus misses and 2 of the 45 hits.
* ``overlap`` < 0.67 catches one more miss (0.5) and no hit; on this corpus
  overlap is 1.0 for 52 of 55 questions, so it rarely speaks.
* ``keyword_hits`` is useless here (OR-ed query words match >= 1000 chunks
  for every question) and is only used without vectors.

Result: 13 flagged, 11 of them misses -- precision 0.85, recall 0.69 over
all 16 misses (in-corpus alone: precision 5/7, recall 5/10), false alarms on
2 of 45 good retrievals (4%). Grid search over the three thresholds (F1, ties
to fewer flags) finds no better rule. Honest caveat: fitted on one question
file and scored on the other, F1 drops to 0.5 (recall 1/3 and 3/7), so the
gap/overlap part is only a weak predictor; the cosine floor is the robust
part."""


def is_weak(signals: RetrievalSignals, thresholds: WeakThresholds = DEFAULT_THRESHOLDS) -> bool:
    """Does first-stage retrieval look like it missed?

    Any one signal below its threshold is enough (see ``WeakThresholds``).
    Without vectors (``dense_top`` None) only keyword evidence is left: weak
    when nothing matched at all.
    """
    if signals.dense_top is None:
        return signals.keyword_hits == 0
    gap = signals.dense_gap if signals.dense_gap is not None else 0.0
    return (
        signals.dense_top < thresholds.dense_top
        or gap < thresholds.dense_gap
        or signals.overlap < thresholds.overlap
    )


# ---------------------------------------------------------------- rewrite

REWRITE_TOKENS = 48
_REWRITE_SYSTEM = "List the Python names and keywords a documentation search needs. One line."
_REWRITE_SHOTS = (
    ("How do I get the current date and time?", "datetime datetime.now date today time"),
    ("How can I sort a list of dicts by a key?", "sorted list.sort key operator.itemgetter lambda"),
)


def rewrite_prompt(question: str) -> list[ChatMessage]:
    """The few-shot messages ``rewrite`` sends (exposed for the benchmark)."""
    messages = [ChatMessage("system", _REWRITE_SYSTEM)]
    for q, out in _REWRITE_SHOTS:
        messages.append(ChatMessage("user", q))
        messages.append(ChatMessage("assistant", out))
    messages.append(ChatMessage("user", question))
    return messages


def rewrite(question: str, generate: Generate) -> Completion:
    """A second query for weak retrieval: the question plus the model's
    keyword expansion (one hidden call).

    The question is kept in front so a useless expansion cannot lose what
    the user asked; an empty or overlong expansion leaves the question
    alone (the second search then repeats the first and the merge is a
    no-op, which ``rewrite_helped`` reports as not helping).
    """
    reply = generate(rewrite_prompt(question), REWRITE_TOKENS)
    extra = clean_line(reply.text)
    words = word_list(extra)
    if not words or len(words) > MAX_QUERY_WORDS:
        return Completion(question.strip(), reply.usage, reply.inputs)
    return Completion(f"{question.strip()} {extra}", reply.usage, reply.inputs)


# ---------------------------------------------------------------- merge

MERGE_RRF_K = 60
"""The same constant as first-stage hybrid fusion (``search.RRF_K``)."""


def merge(first: list[DocumentHit], second: list[DocumentHit], k: int) -> list[DocumentHit]:
    """Reciprocal rank fusion of two rankings, one hit per chunk, best first.

    A chunk found by both searches sums both contributions, so it outranks
    any chunk found by one; ties keep the first ranking's order. Scores are
    replaced by the fused score.
    """
    scores: dict[int, float] = {}
    hits: dict[int, DocumentHit] = {}
    order: dict[int, int] = {}
    for ranking in (first, second):
        seen: set[int] = set()
        for rank, hit in enumerate(ranking, start=1):
            if hit.chunk_id in seen:
                continue
            seen.add(hit.chunk_id)
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + 1.0 / (MERGE_RRF_K + rank)
            hits.setdefault(hit.chunk_id, hit)
            order.setdefault(hit.chunk_id, len(order))
    ranked = sorted(scores, key=lambda cid: (-scores[cid], order[cid]))
    return [replace(hits[cid], score=scores[cid]) for cid in ranked[: max(k, 0)]]


HELPED_MARGIN = 0.02
"""dense_top must rise by this much to count as help (cosine noise between
near-identical queries is about 0.01)."""


def rewrite_helped(before: RetrievalSignals, after: RetrievalSignals) -> bool:
    """Did the rewritten query find closer passages than the original?

    Judged on the best dense cosine (rose by ``HELPED_MARGIN``); without
    vectors, on the best keyword score.
    """
    if before.dense_top is not None and after.dense_top is not None:
        return after.dense_top >= before.dense_top + HELPED_MARGIN
    if before.keyword_top is not None and after.keyword_top is not None:
        return after.keyword_top > before.keyword_top
    return after.keyword_hits > before.keyword_hits
