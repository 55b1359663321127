"""Evaluation runs and generated questions in the database, and the
facade's retrieval evaluation over a tmp folder indexed with the real MiniLM
(FakeRuntime for the chat model)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend import Backend
from backend.common.config import Settings
from backend.common.errors import NotFoundError
from backend.common.locations import Locations
from backend.knowledge.embedder import Embedder
from backend.rag.eval_runs import EvalQuestion, EvalStore
from backend.rag.types import METRIC_KEYS, EvalCancelled, EvalProgress
from backend.runtimes.fake import FakeRuntime
from backend.store.db import Database
from backend.store.migrations import migrate

DOCS = {
    "trains.md": "# Trains\n\nThe night train to Vienna leaves at eleven from platform four. "
    "Sleeper cabins have two berths and a washbasin; breakfast is served before arrival. "
    "Tickets can be bought on board from the conductor, who also checks passports.",
    "bread.md": "# Bread\n\nKnead the dough for ten minutes, then let it rise for an hour in a "
    "warm place. A sourdough starter needs feeding with flour and water every day. "
    "Bake the loaf in a covered cast iron pot so the crust stays thin and crackly.",
    "garden.md": "# Garden\n\nPrune roses in late winter just above an outward-facing bud. "
    "Copper tape and beer traps keep slugs away from the lettuce beds in spring. "
    "Water tomatoes at the base in the morning so the leaves stay dry all day.",
}


@pytest.fixture
def store(tmp_path: Path) -> EvalStore:
    db = Database(tmp_path / "eval.db")
    migrate(db)
    return EvalStore(db)


def test_runs_round_trip_oldest_first(store: EvalStore) -> None:
    metrics = {"default": dict.fromkeys(METRIC_KEYS, 0.5), "keyword": {"recall@5": 0.25}}
    first = store.save_run("retrieval", n=3, metrics=metrics, settings={"k": 10}, label="a")
    second = store.save_run("answers", n=2, metrics={"faithfulness": 0.75}, questions="q.jsonl")
    third = store.save_run("own", n=4, metrics={"hybrid": {"recall@5": 1.0}})
    assert [r.id for r in store.runs()] == [first.id, second.id, third.id]
    assert [r.id for r in store.runs(limit=2)] == [second.id, third.id]
    assert [r.id for r in store.runs("answers")] == [second.id]
    assert store.run(first.id).settings == {"k": 10} and first.label == "a"
    assert first.mode == "default" and first.metric("recall@5") == 0.5
    assert first.metric("recall@5", "keyword") == 0.25
    assert third.mode == "hybrid" and third.metric("recall@5") == 1.0
    assert second.mode is None and second.metric("faithfulness") == 0.75
    assert second.metric("recall@5") is None and first.metric("faithfulness") is None
    assert store.delete_run(first.id) and not store.delete_run(first.id)
    with pytest.raises(NotFoundError):
        store.run(first.id)
    with pytest.raises(ValueError, match="unknown evaluation kind"):
        store.save_run("vibes", n=1, metrics={})


def test_question_sets_are_replaced_per_folder(store: EvalStore) -> None:
    with store.db.transaction() as c:
        for i in (1, 2):
            c.execute("INSERT INTO folders(id, path, added_at) VALUES (?, ?, 'now')", (i, f"/f{i}"))
    store.replace_questions(1, [EvalQuestion("old?", "/f1/a.md", "a")])
    store.replace_questions(2, [EvalQuestion("other?", "/f2/b.md", "")])
    n = store.replace_questions(
        1, [EvalQuestion("new one?", "/f1/a.md", "x", 7), EvalQuestion("two?", "/f1/c.md")]
    )
    assert n == 2
    mine = store.questions([1])
    assert [(q.q, q.gold, q.answer, q.chunk_id, q.folder_id) for q in mine] == [
        ("new one?", "/f1/a.md", "x", 7, 1),
        ("two?", "/f1/c.md", "", None, 1),
    ]
    assert mine[0].as_line() == {"q": "new one?", "gold": ["/f1/a.md"], "answer": "x"}
    assert len(store.questions()) == 3 and store.questions([]) == []


@pytest.fixture
async def indexed(tmp_path: Path, minilm: Embedder) -> AsyncIterator[tuple[Backend, Path]]:
    root = tmp_path / "docs"
    root.mkdir()
    for name, text in DOCS.items():
        (root / name).write_text(text, encoding="utf-8")
    backend = await Backend.open(
        locations=Locations(tmp_path / "home"),
        settings=Settings(default_model="fake-model"),
        runtimes=[FakeRuntime()],
        embedder=minilm,
    )
    await backend.documents.add_folder(str(root))
    summary = await backend.documents.index()
    assert summary.indexed == len(DOCS)
    yield backend, root
    await backend.close()


async def test_retrieval_eval_scores_saves_and_cancels(indexed: tuple[Backend, Path]) -> None:
    backend, root = indexed
    lines = [
        {"q": "When does the train to Vienna leave?", "gold": ["trains.md"], "answer": "eleven"},
        {"q": "When does the train to Vienna leave?", "gold": ["garden.md"]},
        {"q": "How long should I knead dough?", "gold": ["bread.md", "nope.md"], "answer": "zzz"},
    ]  # fmt: skip
    seen: list[EvalProgress] = []
    result = await backend.evaluation.eval_retrieval(
        lines, root, ["keyword", "dense"], k=3, label="first", progress=seen.append
    )
    assert result["n"] == 3 and result["with_answer"] == 2
    assert set(result["modes"]) == {"keyword", "dense"}
    for mode in ("keyword", "dense"):
        m = result["modes"][mode]
        assert set(m) == set(METRIC_KEYS)
        # line 1 right at rank 1, line 2's gold is wrong, line 3 right file, no passage
        assert m["recall@1"] == pytest.approx(2 / 3), mode
        assert m["passage_recall@1"] == pytest.approx(1 / 3), mode
    assert result["unindexed_gold"] == ["nope.md"]
    assert [p.done for p in seen] == list(range(1, 7)) and seen[-1].total == 6
    runs = await backend.evaluation.eval_runs()
    assert [r.id for r in runs] == [result["run_id"]]
    assert runs[0].kind == "retrieval" and runs[0].label == "first" and runs[0].n == 3
    assert runs[0].metrics == result["modes"]
    assert runs[0].settings["k"] == 3 and runs[0].settings["chunks"] >= 3

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(EvalCancelled):
        await backend.evaluation.eval_retrieval(lines, root, ["keyword"], cancel=cancel)
    assert len(await backend.evaluation.eval_runs()) == 1  # a cancelled run is not kept
    unsaved = await backend.evaluation.eval_retrieval(lines, root, ["keyword"], save=False)
    assert unsaved["run_id"] is None and len(await backend.evaluation.eval_runs()) == 1


async def test_bad_input_is_refused(indexed: tuple[Backend, Path], tmp_path: Path) -> None:
    backend, root = indexed
    line = [{"q": "train?", "gold": ["trains.md"]}]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(NotFoundError, match="is not indexed"):
        await backend.evaluation.eval_retrieval(line, elsewhere)
    with pytest.raises(NotFoundError, match="is not a folder"):
        await backend.evaluation.eval_retrieval(line, tmp_path / "missing")
    with pytest.raises(ValueError, match="unknown retrieval mode 'fuzzy'"):
        await backend.evaluation.eval_retrieval(line, root, ["fuzzy"])
    with pytest.raises(ValueError, match="question 1"):
        await backend.evaluation.eval_retrieval([{"gold": ["trains.md"]}], root)
    with pytest.raises(NotFoundError, match="does not exist"):
        await backend.evaluation.eval_retrieval(tmp_path / "none.jsonl", root)
    with pytest.raises(NotFoundError, match="no generated questions"):
        await backend.evaluation.eval_own()


async def test_generated_questions_feed_the_own_eval(indexed: tuple[Backend, Path]) -> None:
    backend, root = indexed
    stored = await backend.evaluation.generate_questions(str(root), 3, use_model=False)
    assert stored == 3
    questions = await backend.evaluation.eval_questions(str(root))
    assert {Path(q.gold).name for q in questions} == set(DOCS)  # one per document
    for q in questions:
        assert q.answer and q.answer in Path(q.gold).read_text(encoding="utf-8")
    result = await backend.evaluation.eval_own(["keyword", "hybrid"], label="own")
    assert result["n"] == 3 and result["questions"] == "generated"
    # cloze questions share their chunk's words: keyword search finds every one
    assert result["modes"]["keyword"]["recall@1"] == 1.0
    runs = await backend.evaluation.eval_runs("own")
    assert len(runs) == 1 and runs[0].settings["question_set"]
