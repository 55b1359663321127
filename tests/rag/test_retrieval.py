"""``retrieve`` over a small real corpus (``conftest.CORPUS``, parsed,
chunked and embedded with the bundled MiniLM), and the diversity step on
hand-made hits."""

from __future__ import annotations

import re

import pytest

from backend.knowledge.records import DocumentHit
from backend.knowledge.service import KnowledgeBase
from backend.rag.retrieval import Diversity, diversify, retrieve

_WORDS = re.compile(r"\w+")


def _rel(hit: DocumentHit) -> str:
    return hit.path.split("/docs/", 1)[1]


def _ask(kb: KnowledgeBase, query: str, mode: str = "hybrid", **kw: object) -> list[str]:
    embedder = None if mode == "keyword" else kb.embedder
    result = retrieve(kb.store, embedder, query, mode=mode, **kw)  # type: ignore[arg-type]
    return [_rel(h) for h in result.hits]


class OverlapReranker:
    """A real (if simple) second stage: scores a passage by how many of the
    query's words it contains."""

    name = "word-overlap"

    def rerank(self, query: str, hits: list[DocumentHit]) -> list[DocumentHit]:
        words = set(_WORDS.findall(query.lower()))
        scored = [
            DocumentHit(
                **{**h.__dict__, "score": float(len(words & set(_WORDS.findall(h.text.lower()))))}
            )
            for h in hits
        ]
        return sorted(scored, key=lambda h: -h.score)


# -- the diversity step on hand-made hits -----------------------------------


def _hit(i: int, path: str, text: str | None = None) -> DocumentHit:
    return DocumentHit(i, path, "", None, 1.0 / i, text or f"passage number {i} about {path}")


def test_cap_per_document_and_fill_when_nothing_else() -> None:
    hits = [_hit(i, "big.md") for i in range(1, 7)] + [_hit(7, "a.md"), _hit(8, "b.md")]
    out = diversify(hits, 5, max_per_document=2, rules=Diversity(defer_neighbours=False))
    assert [h.chunk_id for h in out] == [1, 2, 7, 8, 3]  # capped, then filled in order
    assert [h.chunk_id for h in diversify(hits[:6], 4, 2)] == [1, 2, 3, 4]  # nothing else


def test_neighbours_wait_and_duplicates_collapse() -> None:
    same = "Keep three copies of your data on two media, one offsite."
    hits = [
        _hit(1, "big.md"),
        _hit(2, "big.md"),  # next to 1: waits
        _hit(3, "copy1.md", same),
        _hit(4, "copy2.md", same + " "),  # a duplicate of 3: dropped for good
        _hit(5, "big.md"),  # not next to 1
        _hit(6, "c.md"),
    ]
    positions = {1: (10, 0), 2: (10, 1), 5: (10, 4), 3: (11, 0), 4: (12, 0), 6: (13, 0)}
    deferring = Diversity(defer_neighbours=True)
    out = diversify(hits, 6, max_per_document=3, positions=positions, rules=deferring)
    assert [h.chunk_id for h in out] == [1, 3, 5, 6, 2]
    # the default (issue 19): neighbours are not held back, duplicates still go
    assert [h.chunk_id for h in diversify(hits, 6, 3, positions)] == [1, 2, 3, 5, 6]
    off = Diversity(collapse_duplicates=False, defer_neighbours=False)
    assert [h.chunk_id for h in diversify(hits, 6, 3, positions, off)] == [1, 2, 3, 4, 5, 6]


# -- retrieve on the real corpus -------------------------------------------


def test_diversity_caps_one_file_crowding(corpus_kb: KnowledgeBase) -> None:
    query = "how to bake a sourdough loaf"
    crowded = _ask(corpus_kb, query, k=5, max_per_document=50, diversity=Diversity(False, False))
    assert crowded.count("kitchen/sourdough.md") >= 4  # the long file crowds the list
    diverse = _ask(corpus_kb, query, k=5, max_per_document=2)
    assert diverse.count("kitchen/sourdough.md") == 2
    assert "kitchen/rye.md" in diverse  # the other bread gets a place
    # when the candidates hold little else, the cap yields rather than come up short
    few = _ask(corpus_kb, "sourdough loaf", k=5, candidates=5, max_per_document=1)
    assert len(few) == 5 and few.count("kitchen/sourdough.md") > 1


def test_duplicates_collapse(corpus_kb: KnowledgeBase) -> None:
    paths = _ask(corpus_kb, "three copies of my data offsite", k=4)
    assert paths[0] in ("tech/backup.md", "tech/backup-copy.md")
    assert len({"tech/backup.md", "tech/backup-copy.md"} & set(paths)) == 1
    nodedup = _ask(
        corpus_kb, "three copies of my data offsite", k=4, diversity=Diversity(False, False)
    )
    assert {"tech/backup.md", "tech/backup-copy.md"} <= set(nodedup)


def test_signals_on_and_off_topic(corpus_kb: KnowledgeBase) -> None:
    on = retrieve(corpus_kb.store, corpus_kb.embedder, "espresso coffee with hot water", k=4)
    off = retrieve(corpus_kb.store, corpus_kb.embedder, "quantum chromodynamics of gluons", k=4)
    assert on.signals.dense_top is not None and off.signals.dense_top is not None
    assert on.signals.dense_top > 0.5 > off.signals.dense_top
    assert on.signals.dense_gap is not None and on.signals.dense_gap > 0.2
    assert on.signals.keyword_hits >= 1 and on.signals.keyword_top is not None
    assert off.signals.keyword_hits == 0 and off.signals.keyword_top is None
    assert 0 < on.signals.overlap <= 1 and off.signals.overlap == 0
    assert [s.stage for s in on.stages] == ["retrieve"] and on.stages[0].ms > 0
    keyword = retrieve(corpus_kb.store, None, "espresso", mode="keyword", k=4)
    assert keyword.signals.dense_top is None and keyword.signals.keyword_hits == 1
    dense = retrieve(corpus_kb.store, corpus_kb.embedder, "espresso", mode="dense", k=4)
    assert dense.signals.keyword_top is not None and dense.signals.dense_top is not None


def test_hybrid_finds_what_each_list_misses(corpus_kb: KnowledgeBase) -> None:
    # keyword misses: the ticket repeats "7731" more, only dense sees "out of room"
    query = "what does 7731 mean, am I out of room on the drive?"
    assert _ask(corpus_kb, query, "keyword", k=1) == ["errors/tickets.md"]
    assert _ask(corpus_kb, query, k=1) == ["errors/quota.md"]
    # dense misses: reg_count's description is the closer paraphrase, only
    # keyword search sees that the question names reg_tally
    query = "how many entries does the registry store, reg_tally"
    tally = "api/registry.md"
    dense = retrieve(corpus_kb.store, corpus_kb.embedder, query, mode="dense", k=1)
    assert dense.hits[0].heading.endswith("reg_count()")
    hybrid = retrieve(corpus_kb.store, corpus_kb.embedder, query, k=1)
    assert _rel(hybrid.hits[0]) == tally and hybrid.hits[0].heading.endswith("reg_tally()")


def test_reranker_reorders(corpus_kb: KnowledgeBase) -> None:
    query = "what does 7731 mean when the disk runs out of storage space and I delete old files"
    plain = retrieve(corpus_kb.store, corpus_kb.embedder, query, k=3)
    reranked = retrieve(corpus_kb.store, corpus_kb.embedder, query, k=3, reranker=OverlapReranker())
    assert [s.stage for s in reranked.stages] == ["retrieve", "rerank"]
    assert reranked.stages[1].detail == {"reranker": "word-overlap"}
    assert [h.chunk_id for h in reranked.hits] != [h.chunk_id for h in plain.hits]
    scores = [h.score for h in reranked.hits]
    assert scores == sorted(scores, reverse=True)


def test_empty_and_degenerate(corpus_kb: KnowledgeBase) -> None:
    assert retrieve(corpus_kb.store, corpus_kb.embedder, "   ", k=3).hits == []
    assert retrieve(corpus_kb.store, corpus_kb.embedder, "bread", k=0).hits == []
    assert len(retrieve(corpus_kb.store.db, None, "bread", k=3).hits) == 3  # keyword fallback
    with pytest.raises(ValueError):
        retrieve(corpus_kb.store, None, "bread", mode="dense")
