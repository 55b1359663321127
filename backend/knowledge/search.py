"""Keyword, dense and hybrid search over the knowledge base.

Keyword search is FTS5 bm25 over chunk text and heading (stop words dropped
from the query); dense search is sqlite-vec KNN on the query's embedding;
hybrid fuses the two lists. Reranking, diversity and query rewriting belong
to the RAG layer above (``backend.rag.retrieval``).

Fusion, measured with ``benchmarks/retrieval_tuning.py`` on the full
python3.11-doc index (530 files, 24,020 chunks), facts dev set, passage
R@1 / R@5 / MRR@10: RRF with k=60 (the textbook default) 0.44 / 0.88 / 0.62,
worse than dense alone (0.60 / 0.92 / 0.72), because bm25 on natural-language
questions is weak (0.36 / 0.68 / 0.49) and RRF gives its ranks as much say
as dense ones; RRF k=10 with dense weighted 2x 0.56 / 0.92 / 0.73; min-max
score fusion, dense 4x, 0.64 / 0.92 / 0.75. The default, ``scaled``, keeps
the dense cosine as it is and adds 0.1 x (bm25 / the query's best bm25):
0.64 / 0.92 / 0.77 (dev set 0.50 / 0.80 / 0.62 against dense 0.43 / 0.80 /
0.59). Keyword evidence so acts as a tie-breaker between passages dense
search finds about equally close -- typically sibling API entries such as
``date.isoformat`` and ``date.fromisoformat`` -- and lifts a chunk that
names the asked-for identifier. Weight 0.05 and 0.2 were both worse (MRR
0.76 and 0.75); heading column weights above 1 hurt (3x: 0.60 / 0.88).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from backend.knowledge.embedder import Embedder
from backend.knowledge.errors import ModelMismatch
from backend.knowledge.index_store import IndexStore
from backend.knowledge.records import DocumentHit
from backend.store.db import Database

Mode = Literal["hybrid", "dense", "keyword"]
RRF_K = 60
CANDIDATES_PER_K = 4
BM25_WEIGHTS = (1.0, 0.5)
KEYWORD_COUNT_CAP = 1000
_VEC_MAX_K = 4096  # sqlite-vec's upper bound on k
_WORD = re.compile(r"\w+", re.UNICODE)


# Words that carry no topic in a question ("how do I ... with the ..."). bm25
# already gives words found in most chunks an idf near zero, so dropping them
# changes ranking little; it matters for the other uses of the match: each
# OR-ed word costs a doclist merge (common words have the longest lists), and
# ``keyword_count`` -- the "did any chunk match?" signal -- would otherwise
# count every chunk containing "the". Kept deliberately small: words such as
# "return", "get", "set", "file", "list", "not", "all", "any" are API
# vocabulary here (all() and any() are builtins).
STOP_WORDS = frozenset(
    """a about am an and are as at be because been being but by can could did do does
    doing for from had has have having he her here hers him his how i if in into is
    it its itself me my myself of on or our ours she should so such than that the
    their theirs them then there these they this those to too was we were what when
    where which while who whom why will with would you your yours
    """.split()  # noqa: SIM905
)


def query_words(text: str, *, stop_words: bool = True) -> list[str]:
    """The query's distinct words in order, stop words dropped unless that
    would leave none (a query of only stop words still searches them)."""
    words = list(dict.fromkeys(_WORD.findall(text)))
    if stop_words:
        kept = [w for w in words if w.casefold() not in STOP_WORDS]
        words = kept or words
    return words


def fts_query(text: str, *, stop_words: bool = True) -> str | None:
    """Turn free text into a safe FTS5 query: each word quoted, OR-ed.

    Quoting every word means no user input (``"(AND``, ``NEAR``, ``*``) can be
    an FTS5 syntax error; OR lets bm25 rank chunks that match more words
    higher instead of demanding all of them. None when there are no words.
    """
    words = query_words(text, stop_words=stop_words)
    if not words:
        return None
    return " OR ".join(f'"{w}"' for w in words)


_FTS_FIRST = "CROSS JOIN"
"""SQLite's planner, given a folder filter, walks the folder's documents and
chunks and probes FTS5 once per chunk: 3.4 s per query on the 24,020-chunk
docs index. A CROSS JOIN keeps the FTS5 match as the outer loop (SQLite
never reorders it), 19 ms on the same query. Measured with EXPLAIN QUERY PLAN;
``tests/knowledge/test_search.py`` checks the plan."""


def _folder_clause(folder_ids: list[int] | None) -> tuple[str, tuple[int, ...]]:
    if not folder_ids:
        return "", ()
    marks = ",".join("?" * len(folder_ids))
    return f" AND d.folder_id IN ({marks})", tuple(folder_ids)


def keyword_ids(
    db: Database,
    query: str,
    limit: int,
    folder_ids: list[int] | None = None,
    *,
    weights: tuple[float, float] = BM25_WEIGHTS,
    stop_words: bool = True,
) -> list[tuple[int, float]]:
    """(chunk id, score) best first; score is -bm25 so higher is better.

    ``weights`` are bm25's per-column weights for (text, heading).
    """
    match = fts_query(query, stop_words=stop_words)
    if match is None or limit <= 0:
        return []
    clause, params = _folder_clause(folder_ids)
    text_w, heading_w = (float(w) for w in weights)
    rows = db.query(
        f"SELECT chunks_fts.rowid AS id, bm25(chunks_fts, {text_w!r}, {heading_w!r}) AS rank"
        f" FROM chunks_fts {_FTS_FIRST} chunks c ON c.id = chunks_fts.rowid"
        f" {_FTS_FIRST} documents d ON d.id = c.document_id"
        f" WHERE chunks_fts MATCH ?{clause} ORDER BY rank LIMIT ?",
        (match, *params, limit),
    )
    return [(int(r["id"]), -float(r["rank"])) for r in rows]


def keyword_count(
    db: Database, query: str, folder_ids: list[int] | None = None, cap: int = KEYWORD_COUNT_CAP
) -> int:
    """How many chunks match any (non-stop) query word, counted up to ``cap``
    (beyond it the number says nothing more about a query and costs time)."""
    match = fts_query(query)
    if match is None or cap <= 0:
        return 0
    clause, params = _folder_clause(folder_ids)
    row = db.query_one(
        "SELECT count(*) FROM (SELECT chunks_fts.rowid FROM chunks_fts"
        f" {_FTS_FIRST} chunks c ON c.id = chunks_fts.rowid"
        f" {_FTS_FIRST} documents d ON d.id = c.document_id"
        f" WHERE chunks_fts MATCH ?{clause} LIMIT ?)",
        (match, *params, cap),
    )
    return int(row[0])


def embed_query(embedder: Embedder, query: str) -> bytes:
    """The query's vector as the float32 blob sqlite-vec compares."""
    return np.asarray(embedder.embed_queries([query])[0], dtype="<f4").tobytes()


def dense_ids(
    store: IndexStore,
    embedder: Embedder,
    query: str,
    limit: int,
    folder_ids: list[int] | None = None,
    *,
    vector: bytes | None = None,
) -> list[tuple[int, float]]:
    """(chunk id, 1 - cosine distance) best first.

    ``vector``: the query already embedded (``embed_query``), to embed once
    when the caller needs it twice.

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
    blob = vector if vector is not None else embed_query(embedder, query)
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


def rrf(
    lists: list[list[tuple[int, float]]],
    k: int = RRF_K,
    weights: list[float] | None = None,
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: sum of weight / (k + rank) over the lists
    (weights default to 1 each), best first; ties by chunk id."""
    weights = weights or [1.0] * len(lists)
    if len(weights) != len(lists):
        raise ValueError(f"{len(lists)} lists but {len(weights)} weights")
    scores: dict[int, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        for rank, (chunk_id, _) in enumerate(ranked, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def minmax_fuse(
    lists: list[list[tuple[int, float]]], weights: list[float]
) -> list[tuple[int, float]]:
    """Score fusion: each list's scores scaled to [0, 1] by its own min and
    max (all equal: all 1), weighted and summed (absent from a list = 0),
    best first."""
    scores: dict[int, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        if not ranked:
            continue
        values = [score for _, score in ranked]
        low, span = min(values), max(values) - min(values)
        for chunk_id, score in ranked:
            scaled = (score - low) / span if span > 0 else 1.0
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight * scaled
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def scaled_fuse(
    keyword: list[tuple[int, float]], dense: list[tuple[int, float]], keyword_weight: float
) -> list[tuple[int, float]]:
    """Dense cosine plus ``keyword_weight`` times bm25 scaled by the list's
    best (so the top keyword match adds exactly ``keyword_weight``), best
    first. Cosine is kept raw: it is already on one scale across queries,
    and its absolute gaps carry information that ranks (RRF) throw away."""
    scores = dict(dense)
    top = keyword[0][1] if keyword else 0.0
    for chunk_id, score in keyword:
        scaled = score / top if top > 0 else 1.0
        scores[chunk_id] = scores.get(chunk_id, 0.0) + keyword_weight * scaled
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


@dataclass(frozen=True)
class Fusion:
    """How hybrid search builds and fuses its two lists (see the module
    docstring and ``benchmarks/retrieval_tuning.py`` for why these values).

    ``keyword_weight``/``dense_weight``: per-list weights for ``rrf`` and
    ``minmax``; ``scaled`` uses their ratio as the keyword weight. Pool:
    4x the wanted results per list; 2x lost a passage in the top 5 on the
    facts set, 8x gained nothing and costs 10 ms more."""

    method: Literal["rrf", "minmax", "scaled"] = "scaled"
    rrf_k: int = RRF_K
    keyword_weight: float = 0.1
    dense_weight: float = 1.0
    bm25_weights: tuple[float, float] = BM25_WEIGHTS
    stop_words: bool = True
    pool_per_k: int = CANDIDATES_PER_K
    """Each list fetches ``pool_per_k`` times the number of fused results wanted."""


DEFAULT_FUSION = Fusion()


@dataclass
class FirstStage:
    """Both ranked lists and their fusion, for callers that need all three."""

    fused: list[tuple[int, float]]
    keyword: list[tuple[int, float]] = field(default_factory=list)
    dense: list[tuple[int, float]] = field(default_factory=list)


def first_stage(
    store: IndexStore,
    embedder: Embedder | None,
    query: str,
    n: int,
    mode: Mode = "hybrid",
    folder_ids: list[int] | None = None,
    fusion: Fusion = DEFAULT_FUSION,
) -> FirstStage:
    """The ``n`` best (chunk id, score) for ``mode``, with the lists behind them.

    Without an embedder hybrid degrades to keyword (dense raises).
    """
    if mode not in ("hybrid", "dense", "keyword"):
        raise ValueError(f"unknown search mode {mode!r}")
    if n <= 0:
        return FirstStage([])
    if mode == "dense" and embedder is None:
        raise ValueError("dense search needs an embedder")
    pool = n if mode != "hybrid" else n * fusion.pool_per_k
    keyword: list[tuple[int, float]] = []
    dense: list[tuple[int, float]] = []
    if mode != "dense":
        keyword = keyword_ids(
            store.db,
            query,
            pool,
            folder_ids,
            weights=fusion.bm25_weights,
            stop_words=fusion.stop_words,
        )
    if mode != "keyword" and embedder is not None:
        dense = dense_ids(store, embedder, query, pool, folder_ids)
    if mode == "keyword" or embedder is None:
        return FirstStage(keyword[:n], keyword, dense)
    if mode == "dense":
        return FirstStage(dense[:n], keyword, dense)
    weights = [fusion.keyword_weight, fusion.dense_weight]
    if fusion.method == "minmax":
        fused = minmax_fuse([keyword, dense], weights)
    elif fusion.method == "scaled":
        fused = scaled_fuse(keyword, dense, fusion.keyword_weight / fusion.dense_weight)
    else:
        fused = rrf([keyword, dense], fusion.rrf_k, weights)
    return FirstStage(fused[:n], keyword, dense)


def hits_for(db: Database, ranked: list[tuple[int, float]]) -> list[DocumentHit]:
    """The chunks behind (chunk id, score) pairs, in the same order, as hits
    carrying those scores (ids no longer in the index are skipped)."""
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
        DocumentHit(
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
) -> list[DocumentHit]:
    """The ``k`` best chunks for ``query``, optionally within some folders.

    ``embedder`` may be None for keyword mode (and hybrid then degrades to
    keyword). Scores: keyword -bm25, dense 1 - cosine distance, hybrid the
    fused score. No diversity step or reranking: that is ``backend.rag``.
    """
    store = store_or_db if isinstance(store_or_db, IndexStore) else IndexStore(store_or_db)
    return hits_for(store.db, first_stage(store, embedder, query, k, mode, folder_ids).fused)
