"""The query side of RAG: condensing follow-ups and rewriting weak queries.

Two hidden model calls can happen before retrieval, and both are gated by
cheap checks so that a standalone question with good retrieval costs none:

* ``needs_condense`` decides from the words alone (no model) whether a
  question leans on earlier turns ("and what about its timeout?"); only then
  ``condense`` asks the model for a standalone question.
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

import re
from dataclasses import dataclass, replace

from backend.knowledge.records import SearchHit
from backend.rag.types import Completion, Generate, RetrievalSignals
from backend.runtimes.base import (
    ChatMessage,
    GenerationParams,
    GenerationRequest,
    ModelInfo,
    Runtime,
    complete,
)

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
        request = GenerationRequest(model, messages, replace(base, max_tokens=max_tokens))
        return Completion(*complete(runtime, request))

    return generate


# ---------------------------------------------------------------- condense

_WORD = re.compile(r"[A-Za-z_][\w.]*\w|[A-Za-z_]")


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_REFERRING = _wordset(
    "it its itself they them their theirs those these this he him his she her former latter above"
)
"""Words that point back at something said earlier (not 'one', 'there' or
'same': 'flatten one level', 'is there a way' stand alone)."""
_LEADING = re.compile(
    r"^\s*(and|but|also|so|then|or|what about|how about|what if|same for|"
    r"and what|and how|why not|else|instead)\b",
    re.IGNORECASE,
)
_EXPLETIVE_IT = re.compile(
    r"\b(is|was|isn't)\s+it\s+(possible|necessary|safe|better|best|ok|okay|"
    r"true|recommended|worth|a good idea)\b|\bit\s+(is|'s)\s+(possible|"
    r"necessary|safe|better|best|ok|okay|recommended)\b",
    re.IGNORECASE,
)
"""'Is it possible to ...' is not a reference to anything."""
_THAT_NEXT = _wordset(
    "is was does do did mean means work works one function method module class "
    "option argument parameter way error value"
)
_THAT_PREV = _wordset(
    "about of with for in on to from like use using call do does try pass change set configure"
)
_STOP = _wordset(
    """a an the and or but if then so also what which who whom whose when where
    why how is are was were be been being do does did done doing can could
    should would will shall may might must i me my we our you your please
    to of in on at by for with about from into as than that this these those
    it its they them there here not no yes any some all more most other else
    instead same again just only very really much many tell show explain give
    example examples detail details mean means work works use using used get
    make happen happens thing things way ok okay thanks thank"""
)
"""Function words and generic chat verbs: a question with nothing left after
removing these has no subject of its own."""
SHORT_QUESTION_WORDS = 3
"""'Why?', 'Any example?', 'In Python 2?': three words or fewer with no code
name cannot say what they are about."""


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _content(text: str) -> set[str]:
    return {w for w in _words(text) if w not in _STOP and w not in _REFERRING and len(w) > 1}


def _is_code_name(word: str) -> bool:
    return "." in word or "_" in word or word.endswith("()")


def _refers_back(text: str) -> bool:
    """A referring word pointing outside the question.

    'that' the conjunction ('check that a file exists') and the expletive
    'is it possible' do not count, nor a pronoun after the question has named
    its own subject ('sort strings by their length': three content words
    before 'their'). A pronoun counts when it comes before any content word
    ('does it follow symlinks?') or the question has at most two content
    words ('how do I add a flag to it?').
    """
    words = _words(_EXPLETIVE_IT.sub(" ", text))
    few = len(_content(text)) <= 2
    seen = 0
    for i, word in enumerate(words):
        refers = word in _REFERRING
        if word == "that":
            prev = words[i - 1] if i else ""
            nxt = words[i + 1] if i + 1 < len(words) else ""
            refers = not nxt or nxt in _THAT_NEXT or prev in _THAT_PREV
        if refers and (seen == 0 or few):
            return True
        if word not in _STOP and word not in _REFERRING and len(word) > 1:
            seen += 1
    return False


def needs_condense(question: str, history: list[ChatMessage]) -> bool:
    """Does ``question`` depend on earlier turns? Words only, no model.

    True when there is an earlier user turn and the question opens like a
    continuation ('and ...', 'what about ...'), refers back (it, its, they,
    that, those, this ...), is very short without a code name, or has no
    content word of its own. A false positive costs one hidden call whose
    output is checked (``condense`` falls back to concatenation); a false
    negative searches the follow-up as is, which for 'and its timeout?'
    retrieves noise -- so the rules lean towards condensing.
    """
    if not any(m.role == "user" and m.content.strip() for m in history):
        return False
    q = question.strip()
    if not q:
        return False
    words = _words(q)
    if _LEADING.match(q) or _refers_back(q):
        return True
    if len(words) <= SHORT_QUESTION_WORDS and not any(_is_code_name(w) for w in words):
        return True
    return not _content(q)


HISTORY_MESSAGES = 4
"""The last two exchanges: a follow-up nearly always points at the previous
turn, and every extra token is prefill time on a CPU."""
HISTORY_CHARS = 300
"""Each earlier message is cut to this many characters (answers can be
pages; the subject is in their first lines)."""
CONDENSE_TOKENS = 48
MAX_QUERY_WORDS = 40
"""Longer 'questions' are the model rambling, not a query."""

_CONDENSE_SYSTEM = (
    "Rewrite the follow-up question so it names what it is about. Reply with one question."
)
_CONDENSE_SHOTS = (
    (
        "How do I open a file in Python?",
        "what about binary mode?",
        "How do I open a file in binary mode in Python?",
    ),
    ("What does list.sort do?", "and does it return anything?", "Does list.sort return anything?"),
    (
        "How do I start a thread?",
        "how do I wait for it to finish?",
        "How do I wait for a thread to finish?",
    ),
)
"""Few-shot pairs as chat turns: with a 135M model, worked examples carry
the task far better than instructions. Probed on 6 follow-ups (json.dumps ->
indent, zipfile -> write, gather -> timeouts, os.walk -> symlinks, argparse
-> flag, urlopen -> timeout): chat turns with 'Earlier question / Follow-up'
gave one line each, while the same shots as one plain-text block made the
model continue the transcript with invented turns in 5 of 5."""
_PREFIX = re.compile(
    r"^\s*(standalone question|rewritten question|rewritten|question|"
    r"follow-up|query|answer|assistant|user|keywords|search terms)\s*[:\-]\s*",
    re.IGNORECASE,
)


def _recent(history: list[ChatMessage]) -> list[ChatMessage]:
    turns = [m for m in history if m.role in ("user", "assistant") and m.content.strip()]
    return [
        ChatMessage(m.role, " ".join(m.content.split())[:HISTORY_CHARS])
        for m in turns[-HISTORY_MESSAGES:]
    ]


def condense_prompt(question: str, history: list[ChatMessage]) -> list[ChatMessage]:
    """The few-shot messages ``condense`` sends (exposed for the benchmark).

    Only earlier *user* questions go in: the probes above showed the model
    copying the assistant's answer into the 'question' when answers were in
    the prompt, and the subject of a follow-up is almost always named in the
    user's own previous question.
    """
    earlier = " ".join(m.content for m in _recent(history) if m.role == "user")
    messages = [ChatMessage("system", _CONDENSE_SYSTEM)]
    for first, follow, out in _CONDENSE_SHOTS:
        messages.append(ChatMessage("user", f"Earlier question: {first}\nFollow-up: {follow}"))
        messages.append(ChatMessage("assistant", out))
    messages.append(ChatMessage("user", f"Earlier question: {earlier}\nFollow-up: {question}"))
    return messages


def clean_line(text: str) -> str:
    """First non-empty line of a model reply without quotes, code ticks and
    'Standalone question:'-style prefixes."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    for _ in range(2):
        line = _PREFIX.sub("", line).strip().strip("\"'`“”‘’").strip()
    return " ".join(line.split())


def fallback_query(question: str, history: list[ChatMessage]) -> str:
    """The previous user question followed by this one.

    Used when the model's rewrite is unusable. For retrieval it is nearly as
    good as a real rewrite: the keyword side ORs every word (so the subject
    named earlier and the new aspect both count) and the embedding of the two
    sentences sits between both topics. Deterministic and free.
    """
    earlier = [m.content for m in _recent(history) if m.role == "user"]
    if not earlier:
        return question.strip()
    return f"{earlier[-1]} {question.strip()}"


def usable_condensed(text: str, question: str, history: list[ChatMessage]) -> bool:
    """Is the model's standalone question worth searching?

    No when empty, too long, a copy of an earlier question (the commonest
    SmolLM2-135M failure: 4 of 6 probes returned the earlier question
    verbatim, dropping the follow-up's new aspect), or when it dropped every
    content word of the follow-up while the follow-up had some.
    """
    words = _words(text)
    if len(words) < 2 or len(words) > MAX_QUERY_WORDS:
        return False
    norm = " ".join(words)
    earlier = [" ".join(_words(m.content)) for m in history if m.role == "user"]
    if norm in earlier or norm == " ".join(_words(question)):
        return False
    new = _content(question)
    return not new or bool(new & _content(text))


def condense(question: str, history: list[ChatMessage], generate: Generate) -> Completion:
    """A standalone version of a follow-up ``question``: one hidden call.

    Returns the model's cleaned question when ``usable_condensed``, else
    ``fallback_query`` (with the model's usage either way, so the request log
    counts the call). Never empty for a non-empty question.
    """
    reply = generate(condense_prompt(question, history), CONDENSE_TOKENS)
    text = clean_line(reply.text)
    if not usable_condensed(text, question, history):
        text = fallback_query(question, history)
    return Completion(text, reply.usage)


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
    words = _words(extra)
    if not words or len(words) > MAX_QUERY_WORDS:
        return Completion(question.strip(), reply.usage)
    return Completion(f"{question.strip()} {extra}", reply.usage)


# ---------------------------------------------------------------- merge

MERGE_RRF_K = 60
"""The same constant as first-stage hybrid fusion (``search.RRF_K``)."""


def merge(first: list[SearchHit], second: list[SearchHit], k: int) -> list[SearchHit]:
    """Reciprocal rank fusion of two rankings, one hit per chunk, best first.

    A chunk found by both searches sums both contributions, so it outranks
    any chunk found by one; ties keep the first ranking's order. Scores are
    replaced by the fused score.
    """
    scores: dict[int, float] = {}
    hits: dict[int, SearchHit] = {}
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
