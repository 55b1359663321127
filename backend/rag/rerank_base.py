"""What every reranker shares: its error, the text it reads of a hit, and
putting its scores back on the hits (``rerank`` has the overview)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from backend.common.errors import AssistantError
from backend.knowledge.records import DocumentHit


class RerankerError(AssistantError):
    """A reranker model is missing, is not the right kind, or failed to score."""

    title = "Reranker problem"


def passage_text(hit: DocumentHit) -> str:
    """What a reranker reads of a hit: its heading path, then its text (the
    heading often carries the words that make a passage relevant, e.g. the
    function name above a short description)."""
    return f"{hit.heading}\n{hit.text}" if hit.heading else hit.text


def rescored(hits: Sequence[DocumentHit], scores: Sequence[float]) -> list[DocumentHit]:
    if len(scores) != len(hits):  # never drop or invent hits
        raise RerankerError(f"the reranker returned {len(scores)} scores for {len(hits)} passages")
    rescored = [replace(h, score=float(s)) for h, s in zip(hits, scores, strict=True)]
    return sorted(rescored, key=lambda h: -h.score)  # stable: ties keep the input order


class NoReranker:
    """The first-stage order and scores, unchanged."""

    name = "none"

    def rerank(self, query: str, hits: list[DocumentHit]) -> list[DocumentHit]:
        return list(hits)
