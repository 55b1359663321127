"""An offline, programmatic judge of grounded answers (``assistant eval
answers``): no model beyond the MiniLM embedder, so it runs anywhere and
gives the same verdict twice.

The answer is split into sentences with the ``[Sn]`` markers removed;
sentences with fewer than ``MIN_CONTENT_WORDS`` content words ("Sure!",
"Here is what I found:") are left out. A sentence is *supported* when one
of the passages the answer cites supports it, by either

- meaning: the MiniLM cosine between the sentence and the passage (the whole
  passage or its best sentence, whichever is higher) is at least
  ``SIM_THRESHOLD``; or
- words: at least ``CONTAINMENT`` of the sentence's content words (lightly
  stemmed) occur in the passage *and* the cosine is at least
  ``LEXICAL_SIM_FLOOR`` (so a sentence that reuses a passage's words to say
  something off-topic is not waved through).

A sentence is judged against every passage the answer cites, not only the
marker in that sentence: small models put one marker at the end of a
paragraph.

Calibration (all-MiniLM-L6-v2, tests/rag/test_judge.py keeps the pairs):
seven obvious paraphrases of a passage scored 0.67-0.88, ten unrelated or
same-topic-but-unsupported sentences -0.08-0.49 ("Flights to Vienna are
cheapest on Tuesdays" against a timetable passage is the 0.49). 0.60 sits
between the two groups. The judge cannot see negation or a changed number
in an otherwise copied sentence; it measures grounding, not truth.

- faithfulness = supported sentences / sentences with content (0 when the
  answer cites nothing, since nothing supports it; None without content);
- citation precision = cited sources that support at least one sentence /
  cited sources (None when nothing is cited);
- contains answer = the expected ``answer`` string occurs in the reply
  (case-insensitive; None when the question has none).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend.knowledge.embedder import Embedder

SIM_THRESHOLD = 0.60
LEXICAL_SIM_FLOOR = 0.35
CONTAINMENT = 0.6
MIN_CONTENT_WORDS = 2

_MARKER = re.compile(r"\[\s*S?\d+(?:\s*[,;]\s*S?\d+)*\s*\]", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(`\[A-Z0-9])")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_WORD = re.compile(r"[A-Za-z0-9_]+")
_STOPWORDS = """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing done down during each
    either else etc even ever every few for from further get gets got had has have having he
    her here hers him his how however i if in into is it its itself just let like may me
    might more most much must my no nor not now of off on once one only or other our ours out
    over own per please same shall she should so some such than that the their theirs them
    then there these they this those through thus to too under until up upon us use used
    uses using very via was we were what when where whether which while who whom whose why
    will with within without would yes yet you your yours
    answer answers according based document documents find found help hope passage passages
    question source sources sure text"""
STOPWORDS = frozenset(_STOPWORDS.split())


def strip_markers(text: str) -> str:
    """The text without ``[S1]``/``[S1, S2]``/``[2]`` citation markers."""
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", _MARKER.sub("", text))


def split_sentences(text: str) -> list[str]:
    """Sentences of an answer, markers and list bullets removed; fenced code
    lines count as sentences of their own."""
    out: list[str] = []
    for line in strip_markers(text).splitlines():
        line = _BULLET.sub("", line).strip().strip("`").strip()
        if not line:
            continue
        out.extend(s.strip() for s in _SENTENCE_END.split(line) if s.strip())
    return out


def _stem(word: str) -> str:
    for suffix in ("ing", "ies", "ed", "es", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def content_words(text: str) -> set[str]:
    """Lower-cased, lightly stemmed words that carry meaning."""
    words = (w.lower() for w in _WORD.findall(text))
    return {_stem(w) for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())}


def containment(words: set[str], passage_words: set[str]) -> float:
    """The share of a sentence's content words found in a passage."""
    return len(words & passage_words) / len(words) if words else 0.0


@dataclass(frozen=True)
class SentenceVerdict:
    text: str
    supported: bool
    by: tuple[int, ...] = ()
    """Cited source numbers that support it."""
    similarity: float = 0.0
    """Best cosine against any cited passage."""
    containment: float = 0.0
    """Best share of its content words found in a cited passage."""


@dataclass(frozen=True)
class AnswerJudgement:
    sentences: list[SentenceVerdict] = field(default_factory=list)
    cited: tuple[int, ...] = ()
    supporting: tuple[int, ...] = ()
    """Cited sources that support at least one sentence."""
    contains_answer: bool | None = None

    @property
    def faithfulness(self) -> float | None:
        if not self.sentences:
            return None
        return sum(1 for s in self.sentences if s.supported) / len(self.sentences)

    @property
    def citation_precision(self) -> float | None:
        if not self.cited:
            return None
        return len(self.supporting) / len(self.cited)


class Judge:
    """Judges answers against their cited passages (see the module doc).

    ``embedder`` should be all-MiniLM-L6-v2 (the thresholds are calibrated
    on it); None judges by words alone (``CONTAINMENT`` without the floor),
    which is stricter on paraphrases.
    """

    def __init__(self, embedder: Embedder | None, threshold: float = SIM_THRESHOLD) -> None:
        self.embedder = embedder
        self.threshold = threshold

    def judge(
        self,
        answer: str,
        passages: Mapping[int, str],
        cited: Sequence[int],
        expected: str = "",
    ) -> AnswerJudgement:
        """``passages`` maps source numbers to passage text; ``cited`` are the
        numbers the answer cites (unknown numbers are ignored)."""
        cited_known = tuple(dict.fromkeys(n for n in cited if n in passages))
        sentences = [
            s for s in split_sentences(answer) if len(content_words(s)) >= MIN_CONTENT_WORDS
        ]
        contains = expected.casefold() in answer.casefold() if expected else None
        if not sentences:
            return AnswerJudgement([], cited_known, (), contains)
        sims = self._similarities(sentences, [passages[n] for n in cited_known])
        passage_words = [content_words(passages[n]) for n in cited_known]
        verdicts = []
        supporting: set[int] = set()
        for i, sentence in enumerate(sentences):
            words = content_words(sentence)
            by, best_sim, best_cont = [], 0.0, 0.0
            for j, n in enumerate(cited_known):
                cont = containment(words, passage_words[j])
                sim = float(sims[i, j]) if sims is not None else 0.0
                best_sim, best_cont = max(best_sim, sim), max(best_cont, cont)
                if self._supports(sim, cont):
                    by.append(n)
            supporting.update(by)
            verdicts.append(SentenceVerdict(sentence, bool(by), tuple(by), best_sim, best_cont))
        return AnswerJudgement(
            verdicts, cited_known, tuple(n for n in cited_known if n in supporting), contains
        )

    def _supports(self, sim: float, containment: float) -> bool:
        if self.embedder is None:
            return containment >= CONTAINMENT
        if sim >= self.threshold:
            return True
        return containment >= CONTAINMENT and sim >= LEXICAL_SIM_FLOOR

    def _similarities(self, sentences: list[str], passages: list[str]) -> np.ndarray | None:
        """(sentences x passages) best cosine of each sentence against each
        passage as a whole or any of its sentences; one embedding batch."""
        if self.embedder is None or not passages:
            return None
        parts = [split_sentences(p) or [p] for p in passages]
        texts = sentences + passages + [s for ps in parts for s in ps]
        vecs = self.embedder.embed(texts)
        s_vecs = vecs[: len(sentences)]
        out = s_vecs @ vecs[len(sentences) : len(sentences) + len(passages)].T
        at = len(sentences) + len(passages)
        for j, ps in enumerate(parts):
            block = s_vecs @ vecs[at : at + len(ps)].T
            out[:, j] = np.maximum(out[:, j], block.max(axis=1))
            at += len(ps)
        return out


def summarise(judgements: Sequence[AnswerJudgement]) -> dict[str, Any]:
    """Means over a question set; a metric is averaged over the answers where
    it is defined (None when it is defined for none)."""

    def mean(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return sum(known) / len(known) if known else None

    contains = [None if j.contains_answer is None else float(j.contains_answer) for j in judgements]
    return {
        "faithfulness": mean([j.faithfulness for j in judgements]),
        "citation_precision": mean([j.citation_precision for j in judgements]),
        "answer_contains": mean(contains),
        "cited_share": (
            sum(1 for j in judgements if j.cited) / len(judgements) if judgements else None
        ),
    }
