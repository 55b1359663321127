"""Sources an answer drew on when the model cited none.

Small models (the bundled SmolLM2 135M among them) often answer from the
sources they were given without writing a single ``[Sn]`` marker, which
would leave the user with "none cited" under an answer that plainly
restates a passage. When -- and only when -- an answer cites nothing, each
of its prose sentences is matched lexically against the passages: a source
is *matched* when at least ``CONTAINMENT`` (0.6) of a sentence's content
words (``backend.rag.judge.content_words``: stop words out, light stemming)
occur in it, for a sentence of at least ``MIN_WORDS`` content words. Code
is left out (an example the model wrote is not evidence of reading).

Matched sources are shown apart from cited ones ("matched to the answer,
not cited by the model") and never count as citations: ``eval answers``
scores what the model cited. The match is lexical (no model call, no
embedding), so it errs towards showing nothing: a paraphrase is not
matched. The share is the judge's containment (``backend.rag.judge``),
with the judge's threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

from backend.common.events import SourceRef
from backend.rag.citations import strip_code
from backend.rag.judge import CONTAINMENT, containment, content_words, split_sentences

MIN_WORDS = 4
MAX_MATCHED = 3


def matched_sources(answer: str, sources: Sequence[SourceRef]) -> list[int]:
    """Source numbers the answer's sentences restate, best match first,
    at most ``MAX_MATCHED``."""
    if not answer.strip() or not sources:
        return []
    passages = [(s.n, content_words(f"{s.heading} {s.text}")) for s in sources]
    best: dict[int, float] = {}
    for sentence in split_sentences(strip_code(answer)):
        words = content_words(sentence)
        if len(words) < MIN_WORDS:
            continue
        for n, passage in passages:
            share = containment(words, passage)
            if share >= CONTAINMENT and share > best.get(n, 0.0):
                best[n] = share
    ranked = sorted(best, key=lambda n: (-best[n], n))
    return ranked[:MAX_MATCHED]
