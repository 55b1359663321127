"""Keyword, dense and hybrid search over the knowledge base.

Keyword search is FTS5 bm25 over chunk text and heading; dense search is
sqlite-vec KNN on the query's embedding; hybrid fuses the two ranked lists
with reciprocal rank fusion (RRF), which needs no score calibration between
bm25 and cosine (their scales are unrelated) and rewards chunks that both
agree on. Reranking and query rewriting belong to the RAG layer above.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np

from backend.knowledge.embedder import Embedder
from backend.knowledge.index_store import IndexStore, ModelMismatch
from backend.knowledge.records import SearchHit
from backend.store.db import Database

Mode = Literal["hybrid", "dense", "keyword"]
RRF_K = 60
CANDIDATES_PER_K = 4
_VEC_MAX_K = 4096  # sqlite-vec's upper bound on k
_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """Turn free text into a safe FTS5 query: each word quoted, OR-ed.

    Quoting every word means no user input (``"(AND``, ``NEAR``, ``*``) can be
    an FTS5 syntax error; OR lets bm25 rank chunks that match more words
    higher instead of demanding all of them. None when there are no words.
    """
    words = _WORD.findall(text)
    if not words:
        return None
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(words))


def _folder_clause(folder_ids: list[int] | None) -> tuple[str, tuple[int, ...]]:
    if not folder_ids:
        return "", ()
    marks = ",".join("?" * len(folder_ids))
    return f" AND d.folder_id IN ({marks})", tuple(folder_ids)


def keyword_ids(
    db: Database, query: str, limit: int, folder_ids: list[int] | None = None
) -> list[tuple[int, float]]:
    """(chunk id, score) best first; score is -bm25 so higher is better."""
    match = fts_query(query)
    if match is None or limit <= 0:
        return []
    clause, params = _folder_clause(folder_ids)
    rows = db.query(
        "SELECT chunks_fts.rowid AS id, bm25(chunks_fts, 1.0, 0.5) AS rank FROM chunks_fts"
        " JOIN chunks c ON c.id = chunks_fts.rowid JOIN documents d ON d.id = c.document_id"
        f" WHERE chunks_fts MATCH ?{clause} ORDER BY rank LIMIT ?",
        (match, *params, limit),
    )
    return [(int(r["id"]), -float(r["rank"])) for r in rows]


def dense_ids(
    store: IndexStore,
    embedder: Embedder,
    query: str,
    limit: int,
    folder_ids: list[int] | None = None,
) -> list[tuple[int, float]]:
    """(chunk id, 1 - cosine distance) best first.

    vec0 KNN cannot filter by folder itself, so with a folder filter we ask
    for more neighbours until enough survive the filter or all were seen.

    Raises:
        ModelMismatch: the index was embedded by a different model than
            ``embedder`` (comparing their vectors would be meaningless).
    """
    recorded = store.vector_model()
    if recorded is None or not store.has_vectors_table() or limit <= 0 or not query.strip():
        return []
    if recorded[0] != embedder.name:
        raise ModelMismatch(
            f"the knowledge base was embedded with {recorded[0]}, the query with "
            f"{embedder.name}; run `assistant index --reembed`"
        )
    blob = np.asarray(embedder.embed([query])[0], dtype="<f4").tobytes()
    allowed = _allowed_chunks(store.db, folder_ids)
    # No count(*) up front (a fifth of a dense query at 100k chunks): KNN
    # returning fewer rows than asked for means every vector was seen.
    fetch = min(limit if allowed is None else limit * 4, _VEC_MAX_K)
    while True:
        rows = store.db.query(
            "SELECT rowid, distance FROM chunks_vec WHERE embedding MATCH ? AND k = ?"
            " ORDER BY distance",
            (blob, fetch),
        )
        exhausted = len(rows) < fetch or fetch >= _VEC_MAX_K
        hits = [(int(r["rowid"]), 1.0 - float(r["distance"])) for r in rows]
        if allowed is not None:
            hits = [h for h in hits if h[0] in allowed]
        if len(hits) >= limit or exhausted:
            return hits[:limit]
        fetch = min(fetch * 4, _VEC_MAX_K)


def _allowed_chunks(db: Database, folder_ids: list[int] | None) -> set[int] | None:
    if not folder_ids:
        return None
    clause, params = _folder_clause(folder_ids)
    rows = db.query(
        f"SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id WHERE 1{clause}",
        params,
    )
    return {int(r["id"]) for r in rows}


def rrf(lists: list[list[tuple[int, float]]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: sum of 1 / (k + rank) over the lists, best first."""
    scores: dict[int, float] = {}
    for ranked in lists:
        for rank, (chunk_id, _) in enumerate(ranked, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _hits(db: Database, ranked: list[tuple[int, float]]) -> list[SearchHit]:
    if not ranked:
        return []
    marks = ",".join("?" * len(ranked))
    rows = db.query(
        'SELECT c.id, d.path, c.heading, c.page, c.text, c.start, c."end" FROM chunks c'
        f" JOIN documents d ON d.id = c.document_id WHERE c.id IN ({marks})",
        tuple(i for i, _ in ranked),
    )
    by_id = {int(r["id"]): r for r in rows}
    return [
        SearchHit(
            chunk_id=cid,
            path=by_id[cid]["path"],
            heading=by_id[cid]["heading"],
            page=by_id[cid]["page"],
            score=score,
            text=by_id[cid]["text"],
            start=by_id[cid]["start"],
            end=by_id[cid]["end"],
        )
        for cid, score in ranked
        if cid in by_id
    ]


def search(
    store_or_db: IndexStore | Database,
    embedder: Embedder | None,
    query: str,
    k: int = 10,
    mode: Mode = "hybrid",
    folder_ids: list[int] | None = None,
) -> list[SearchHit]:
    """The ``k`` best chunks for ``query``, optionally within some folders.

    ``embedder`` may be None for keyword mode (and hybrid then degrades to
    keyword). Scores: keyword -bm25, dense 1 - cosine distance, hybrid RRF.
    """
    store = store_or_db if isinstance(store_or_db, IndexStore) else IndexStore(store_or_db)
    if mode not in ("hybrid", "dense", "keyword"):
        raise ValueError(f"unknown search mode {mode!r}")
    if k <= 0:
        return []
    if mode == "keyword" or embedder is None:
        if mode == "dense":
            raise ValueError("dense search needs an embedder")
        return _hits(store.db, keyword_ids(store.db, query, k, folder_ids))
    if mode == "dense":
        return _hits(store.db, dense_ids(store, embedder, query, k, folder_ids))
    pool = k * CANDIDATES_PER_K
    fused = rrf(
        [
            keyword_ids(store.db, query, pool, folder_ids),
            dense_ids(store, embedder, query, pool, folder_ids),
        ]
    )
    return _hits(store.db, fused[:k])
