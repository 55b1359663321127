"""Questions from the user's documents: chunk sampling across documents on a
really indexed folder, the cloze fallback, the filter for bad model
questions, and the model path with a scripted model and the real one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.knowledge.embedder import Embedder
from backend.knowledge.service import KnowledgeBase
from backend.modelfiles.catalog import ModelInfo
from backend.rag.query import generate_with
from backend.rag.question_gen import (
    BLANK,
    ChunkSample,
    clean_model_question,
    cloze_question,
    generate_questions,
    good_question,
    salient_phrase,
    salient_sentence,
    sample_chunks,
)
from backend.rag.types import Completion
from backend.runtimes.base import ChatMessage, GenerationParams
from backend.runtimes.llamacpp import LlamaCppRuntime
from backend.store.db import Database
from backend.store.migrations import migrate

WALK = (
    "The os module offers many ways to look at a directory tree. "
    "Call os.walk(top) to generate the file names in a directory tree by walking it top-down. "
    "Each step yields a three-tuple of the directory path, its subdirectories and its files."
)
SAMPLE = ChunkSample(1, "/docs/os.html", "os > Files and Directories", WALK)


def test_salient_phrase_prefers_identifiers_and_avoids_words() -> None:
    assert salient_phrase(WALK) == "os.walk"
    assert salient_phrase("Kneading develops gluten in bread dough.") == "Kneading"
    assert salient_phrase("Kneading develops gluten.", {"kneading"}) == "develops"
    assert salient_phrase("a an the of") == ""


def test_salient_sentence_and_cloze() -> None:
    assert salient_sentence(WALK).startswith("Call os.walk(top)")
    q = cloze_question(SAMPLE)
    assert q is not None
    assert q.q.startswith("Files and Directories: what fills the blank in")
    assert BLANK in q.q and "os.walk" not in q.q and q.q.endswith('"?')
    assert (q.gold, q.answer, q.chunk_id) == ("/docs/os.html", "os.walk", 1)
    assert cloze_question(ChunkSample(2, "/x", "", "Too short.")) is None


def test_model_replies_are_cleaned_and_filtered() -> None:
    assert clean_model_question('Question: "How do I walk a tree?" Answer: os.walk') == (
        "How do I walk a tree?"
    )
    assert clean_model_question("1. Which function walks directories?\n2. Other?") == (
        "Which function walks directories?"
    )
    assert good_question("How do I list files in every subdirectory of a tree?", WALK)
    assert not good_question("How do I list files in every subdirectory", WALK)  # no ?
    assert not good_question("Why?", WALK)
    assert not good_question("What does the passage say about directory trees?", WALK)
    assert not good_question("What is the best pizza topping in Naples?", WALK)  # unrelated
    copied = "Call os.walk(top) to generate the file names in a directory tree by walking it?"
    assert not good_question(copied, WALK)


def scripted(replies: list[str]) -> tuple[list[list[ChatMessage]], object]:
    calls: list[list[ChatMessage]] = []

    def generate(messages: list[ChatMessage], max_tokens: int) -> Completion:
        calls.append(messages)
        return Completion(replies[len(calls) - 1])

    return calls, generate


def test_model_questions_with_cloze_fallback() -> None:
    samples = [SAMPLE, ChunkSample(2, "/docs/os2.html", "os > Walking", WALK + " Again.")]
    calls, generate = scripted(
        ["Q: How can I visit every folder under a directory, top-down?", "The passage is nice."]
    )
    ticks: list[tuple[int, int]] = []
    made, from_model = generate_questions(
        samples,
        5,
        generate,
        lambda d, t: ticks.append((d, t)),  # type: ignore[arg-type]
    )
    assert from_model == 1 and len(calls) == 2
    assert made[0].q == "How can I visit every folder under a directory, top-down?"
    assert made[0].answer == "os.walk" and made[0].gold == "/docs/os.html"
    assert made[1].q.startswith("Walking: what fills the blank")  # the bad reply fell back
    assert ticks == [(1, 5), (2, 5)]
    assert "Passage:" in calls[0][-1].content and WALK in calls[0][-1].content

    stop = threading.Event()
    stop.set()
    assert generate_questions(samples, 5, None, cancel=stop) == ([], 0)
    twice, _ = generate_questions([SAMPLE, SAMPLE], 5)
    assert len(twice) == 1  # duplicates are dropped


@pytest.fixture
def kb(tmp_path: Path, minilm: Embedder) -> Iterator[KnowledgeBase]:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "big.md").write_text(
        "\n\n".join(f"## Part {i}\n\n" + WALK.replace("os.walk", f"walker{i}") for i in range(8))
    )
    (root / "small.md").write_text("# Small\n\n" + WALK)
    (root / "tiny.md").write_text("Too short to ask about.")
    db = Database(tmp_path / "kb.db")
    migrate(db)
    base = KnowledgeBase(db, minilm)
    base.add_folder(root)
    base.index()
    yield base
    base.close()
    db.close()


def test_sampling_spreads_over_documents(kb: KnowledgeBase) -> None:
    folder = kb.store.folders()[0]
    two = sample_chunks(kb.store.db, folder.id, 2)
    assert {Path(s.path).name for s in two} == {"big.md", "small.md"}  # tiny.md is too short
    many = sample_chunks(kb.store.db, folder.id, 50)
    assert len({s.chunk_id for s in many}) == len(many) > 2  # every chunk once, then stop
    assert sample_chunks(kb.store.db, folder.id, 4, seed=1) == sample_chunks(
        kb.store.db, folder.id, 4, seed=1
    )


@pytest.mark.real_model
def test_the_bundled_model_writes_questions(smollm2: tuple[LlamaCppRuntime, ModelInfo]) -> None:
    """The real 135M model through llama.cpp; whatever it writes either
    passes the filter or falls back, so every sample yields a question."""
    runtime, model = smollm2
    generate = generate_with(
        runtime, model, GenerationParams(max_tokens=48, temperature=0.0, seed=0)
    )
    made, from_model = generate_questions([SAMPLE], 1, generate)
    assert len(made) == 1 and made[0].answer
    if from_model:
        assert good_question(made[0].q, WALK)
