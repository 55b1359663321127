"""Search over a small real corpus embedded with the bundled MiniLM."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.knowledge.embedder import SentenceTransformerEmbedder
from backend.knowledge.errors import ModelMismatch
from backend.knowledge.index_store import IndexStore
from backend.knowledge.records import Chunk
from backend.knowledge.search import (
    Fusion,
    first_stage,
    fts_query,
    keyword_count,
    keyword_ids,
    minmax_fuse,
    rrf,
    search,
)
from backend.store.db import Database
from backend.store.migrations import migrate

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CORPUS = {
    "garden/tomatoes.md": "Tomatoes need full sun, deep watering and a sturdy stake or cage.",
    "garden/compost.md": "A compost heap turns kitchen scraps and leaves into rich soil.",
    "garden/roses.md": "Prune roses in late winter just above an outward-facing bud.",
    "garden/slugs.md": "Beer traps and copper tape keep slugs away from lettuce.",
    "kitchen/bread.md": "Sourdough bread rises slowly thanks to wild yeast in the starter.",
    "kitchen/pasta.md": "Cook pasta in plenty of salted boiling water until al dente.",
    "kitchen/knives.md": "Sharpen a chef's knife on a whetstone held at fifteen degrees.",
    "kitchen/coffee.md": "Espresso is brewed by forcing hot water through finely ground coffee.",
    "kitchen/freezer.md": "Blanch vegetables before freezing to keep their colour.",
    "tech/backup.md": "Keep three copies of your data on two media with one offsite.",
    "tech/python.md": "A Python virtual environment isolates the packages of one project.",
    "tech/sqlite.md": "SQLite stores a whole database in a single file on disk.",
    "tech/git.md": "Use git rebase to replay your commits on top of another branch.",
    "tech/wifi.md": "Restarting the router often fixes a dropped wireless connection.",
    "tech/passwords.md": "A password manager generates long unique passwords for every site.",
    "travel/passport.md": "Renew your passport at least six months before it expires.",
    "travel/jetlag.md": "Get morning sunlight at your destination to reset your body clock.",
    "travel/packing.md": "Roll clothes tightly to fit more into a carry-on suitcase.",
    "health/sleep.md": "Adults need seven to nine hours of sleep each night.",
    "health/running.md": "Increase weekly running distance by no more than ten percent.",
    "notes/zxq.md": "Project codename Zyqoflux ships in the third quarter.",
}


@pytest.fixture(scope="module")
def embedder(minilm: SentenceTransformerEmbedder) -> SentenceTransformerEmbedder:
    return minilm


@pytest.fixture(scope="module")
def kb(
    tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder
) -> Iterator[tuple[IndexStore, dict[str, int]]]:
    root = tmp_path_factory.mktemp("kb")
    db = Database(root / "kb.db")
    migrate(db)
    store = IndexStore(db)
    store.ensure_vectors(embedder.name, embedder.dim)
    folders: dict[str, int] = {}
    paths = list(CORPUS)
    vectors = embedder.embed([CORPUS[p] for p in paths])
    for i, path in enumerate(paths):
        top = path.split("/")[0]
        if top not in folders:
            (root / top).mkdir()
            folders[top] = store.add_folder(root / top).id
        text = CORPUS[path]
        chunk = Chunk(text=text, heading_path=(top.title(),), start=0, end=len(text), tokens=20)
        store.replace_document(
            folders[top], path, len(text), 1, f"h{i}", [chunk], vectors[i : i + 1]
        )
    yield store, folders
    db.close()


def test_keyword_finds_exact_term(kb: tuple[IndexStore, dict[str, int]]) -> None:
    store, _ = kb
    hits = search(store, None, "Zyqoflux", mode="keyword")
    assert [h.path for h in hits] == ["notes/zxq.md"]
    assert hits[0].heading == "Notes" and hits[0].end == len(CORPUS["notes/zxq.md"])
    # porter stemming: "pruning" finds "Prune"
    assert search(store, None, "pruning", mode="keyword")[0].path == "garden/roses.md"


def test_keyword_matches_heading(kb: tuple[IndexStore, dict[str, int]]) -> None:
    store, _ = kb
    paths = {h.path for h in search(store.db, None, "travel", k=10, mode="keyword")}
    assert paths == {"travel/passport.md", "travel/jetlag.md", "travel/packing.md"}


def test_dense_finds_paraphrase(
    kb: tuple[IndexStore, dict[str, int]], embedder: SentenceTransformerEmbedder
) -> None:
    store, _ = kb
    query = "how do I stop snails eating my salad greens"
    keyword = search(store, embedder, query, mode="keyword", k=3)
    assert "garden/slugs.md" not in {h.path for h in keyword}  # no shared words
    hits = search(store, embedder, query, k=3, mode="dense")
    assert hits[0].path == "garden/slugs.md"
    assert 0 < hits[0].score <= 1 and hits[0].score >= hits[1].score


def test_hybrid_ranks_relevant_doc_first(
    kb: tuple[IndexStore, dict[str, int]], embedder: SentenceTransformerEmbedder
) -> None:
    store, _ = kb
    hits = search(store, embedder, "fix my wifi that keeps disconnecting", k=5)
    assert hits[0].path == "tech/wifi.md"
    assert len(hits) == 5 and len({h.chunk_id for h in hits}) == 5
    hits = search(store, embedder, "safe copies of files against disk failure", k=5)
    assert hits[0].path == "tech/backup.md"


@pytest.mark.parametrize(
    "query", ['"(AND', "NEAR(", "*", "a OR", '"', "   ", "", "col:umn", "-x ^y", "émigré ✓"]
)
def test_weird_queries_never_raise(
    kb: tuple[IndexStore, dict[str, int]], embedder: SentenceTransformerEmbedder, query: str
) -> None:
    """FTS5 syntax in a query is searched as words, never parsed: no error,
    at most ``k`` hits, every hit a stored chunk of the corpus; dense search
    still ranks the whole corpus for any non-blank text."""
    store, _ = kb
    for mode in ("keyword", "dense", "hybrid"):
        hits = search(store, embedder, query, k=3, mode=mode)
        assert len(hits) <= 3, mode
        assert all(h.path in CORPUS and h.text == CORPUS[h.path] for h in hits), mode
        assert len({h.chunk_id for h in hits}) == len(hits), mode
        if mode == "dense" and query.strip():
            assert len(hits) == 3


def test_folder_filter(
    kb: tuple[IndexStore, dict[str, int]], embedder: SentenceTransformerEmbedder
) -> None:
    store, folders = kb
    for mode in ("keyword", "dense", "hybrid"):
        hits = search(store, embedder, "water", k=10, mode=mode, folder_ids=[folders["kitchen"]])
        assert hits and all(h.path.startswith("kitchen/") for h in hits)
    hits = search(store, embedder, "water", k=20, mode="dense", folder_ids=[folders["tech"]])
    assert {h.path.split("/")[0] for h in hits} == {"tech"} and len(hits) == 6


def test_model_mismatch_on_query(kb: tuple[IndexStore, dict[str, int]], tmp_path: Path) -> None:
    store, _ = kb
    other = SentenceTransformerEmbedder(name="some-other-model")
    with pytest.raises(ModelMismatch):
        search(store, other, "coffee", mode="dense")


def test_empty_index_and_helpers(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    db = Database(tmp_path / "e.db")
    migrate(db)
    assert search(db, embedder, "anything") == []
    assert fts_query('"(AND x') == '"x"'  # "and" is a stop word
    assert fts_query('"(AND x', stop_words=False) == '"AND" OR "x"'
    assert fts_query("how do I") == '"how" OR "do" OR "I"'  # only stop words: keep them
    assert fts_query("?!") is None
    assert rrf([[(1, 9.0), (2, 1.0)], [(2, 0.9), (3, 0.1)]])[0][0] == 2


def test_fusion_helpers() -> None:
    a, b = [(1, 9.0), (2, 1.0)], [(2, 0.9), (3, 0.1)]
    # k=1: 1 -> 5/2 = 2.5 beats 2 -> 5/3 + 1/2 = 2.17; equal weights: 2 wins
    assert rrf([a, b], k=1, weights=[5.0, 1.0])[0] == (1, 2.5)
    assert rrf([a, b], k=1)[0] == (2, pytest.approx(1 / 3 + 1 / 2))
    with pytest.raises(ValueError):
        rrf([a, b], weights=[1.0])
    # min-max: 1 -> 1.0 + 0, 2 -> 0.0 + 1.0, 3 -> 0 + 0.0; tie broken by id
    assert minmax_fuse([a, b], [1.0, 1.0]) == [(1, 1.0), (2, 1.0), (3, 0.0)]
    assert minmax_fuse([a, b], [1.0, 2.0])[0] == (2, 2.0)
    assert minmax_fuse([[], [(5, 0.3)]], [1.0, 1.0]) == [(5, 1.0)]  # the only one


def test_stop_words_and_heading_weight(kb: tuple[IndexStore, dict[str, int]]) -> None:
    store, _ = kb
    # "the" matches chunks everywhere; with stop words dropped only "sun" counts
    assert keyword_count(store.db, "the sun") == 1
    assert keyword_count(store.db, "the") > 1  # only stop words: searched as given
    assert keyword_count(store.db, "zzzqqq") == 0
    assert len(keyword_ids(store.db, "the sun", 10, stop_words=False)) > 1
    # heading weight: "tech" is only in the heading of the six tech chunks
    plain = dict(keyword_ids(store.db, "tech wifi", 10, weights=(1.0, 0.0)))
    heavy = dict(keyword_ids(store.db, "tech wifi", 10, weights=(1.0, 5.0)))
    backup = next(i for i, _ in keyword_ids(store.db, "offsite", 1))
    assert abs(plain.get(backup, 0.0)) < 1e-5 < heavy[backup]


def test_first_stage_lists(
    kb: tuple[IndexStore, dict[str, int]], embedder: SentenceTransformerEmbedder
) -> None:
    store, _ = kb
    stage = first_stage(store, embedder, "espresso coffee", 3, "hybrid")
    assert len(stage.fused) == 3 and stage.keyword and len(stage.dense) == 3 * 4
    assert stage.fused[0][0] == stage.keyword[0][0] == stage.dense[0][0]
    only_kw = first_stage(store, None, "espresso", 3, "hybrid")  # no embedder: keyword
    assert only_kw.dense == [] and only_kw.fused == only_kw.keyword[:3]
    with pytest.raises(ValueError):
        first_stage(store, None, "espresso", 3, "dense")
    minmax = Fusion(method="minmax", keyword_weight=1.0)
    scored = first_stage(store, embedder, "espresso", 3, fusion=minmax)
    assert scored.fused[0][1] == pytest.approx(2.0)  # top of both lists
    # the default: cosine + 0.1 x bm25 / best bm25
    default = first_stage(store, embedder, "espresso", 3)
    assert default.fused[0][1] == pytest.approx(default.dense[0][1] + 0.1)


def test_folder_filter_keeps_fts_as_the_outer_loop(
    kb: tuple[IndexStore, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a folder filter the planner would otherwise probe FTS5 once per
    chunk of the folder (3.4 s a query on the docs index instead of 19 ms)."""
    store, folders = kb
    seen: list[tuple[str, tuple[object, ...]]] = []
    real_query = store.db.query

    def spy(sql: str, params: tuple[object, ...] = ()) -> list[object]:
        seen.append((sql, params))
        return real_query(sql, params)

    monkeypatch.setattr(store.db, "query", spy)
    assert keyword_ids(store.db, "water", 5, [folders["kitchen"]])
    sql, params = next((s, p) for s, p in seen if "chunks_fts MATCH" in s)
    monkeypatch.undo()
    plan = [row[3] for row in store.db.query("EXPLAIN QUERY PLAN " + sql, params)]
    assert plan[0].startswith("SCAN chunks_fts"), plan
