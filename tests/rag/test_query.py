"""The query side of RAG: when to condense, condensing, weak-retrieval
detection, rewriting and merging. Fast tests script the fake runtime; the
``real_model`` ones run the bundled SmolLM2 (greedy, <= 48 tokens a call) and
the real MiniLM index from ``conftest.corpus_kb``."""

from __future__ import annotations

from dataclasses import replace

import pytest

from backend.common.errors import ModelError
from backend.knowledge.records import DocumentHit
from backend.knowledge.service import KnowledgeBase
from backend.modelfiles.catalog import ModelInfo
from backend.rag import condense as c
from backend.rag import query as q
from backend.rag.retrieval import retrieve
from backend.rag.types import Generate, RetrievalSignals
from backend.runtimes.base import ChatMessage, GenerationParams
from backend.runtimes.fake import FakeRuntime
from backend.runtimes.llamacpp import LlamaCppRuntime

HISTORY = [
    ChatMessage("user", "What does json.dumps do?"),
    ChatMessage("assistant", "It serializes a Python object to a JSON formatted string."),
]
FOLLOW_UPS = [
    "and what about its indent argument?",
    "does it follow symlinks?",
    "how do I add a flag to it?",
    "what about timeouts?",
    "Why?",
    "Any example?",
    "Is its default encoding UTF-8?",
    "can it also write them?",
    "And in Python 2?",
    "Does that work on Windows?",
    "show me an example",
]
STANDALONE = [
    "How do I sort strings by their length?",
    "Is it possible to read a zip file in Python?",
    "How do I check that a file exists?",
    "json.loads?",
    "How do I flatten one level of nesting from a list of lists lazily?",
    "Is there a way to run coroutines concurrently and wait for all of them?",
    "Which method merges another dictionary into this one, overwriting existing keys?",
    "How do I read environment variables in a program?",
]


def scripted(reply: str) -> tuple[FakeRuntime, Generate]:
    runtime = FakeRuntime(responder=lambda _messages: reply)
    (model,) = runtime.list_models()
    return runtime, q.generate_with(runtime, model)


def hit(chunk_id: int, score: float = 1.0) -> DocumentHit:
    return DocumentHit(chunk_id, f"/docs/{chunk_id}.md", "", None, score, f"text {chunk_id}")


# ------------------------------------------------------------ needs_condense


@pytest.mark.parametrize("question", FOLLOW_UPS)
def test_follow_ups_need_condensing(question: str) -> None:
    assert c.needs_condense(question, HISTORY)


@pytest.mark.parametrize("question", STANDALONE)
def test_standalone_questions_do_not(question: str) -> None:
    assert not c.needs_condense(question, HISTORY)


def test_no_condensing_without_an_earlier_user_turn() -> None:
    assert not c.needs_condense("and what about its indent argument?", [])
    only_system = [ChatMessage("system", "Be brief."), ChatMessage("assistant", "Hi!")]
    assert not c.needs_condense("and what about its indent argument?", only_system)


# ------------------------------------------------------------ condense (fake)


def test_condense_cleans_the_models_question() -> None:
    runtime, generate = scripted('Standalone question: "What does json.dumps indent do?"')
    out = c.condense("and what about its indent argument?", HISTORY, generate)
    assert out.text == "What does json.dumps indent do?"
    assert out.usage is not None and out.usage.completion_tokens > 0
    (request,) = runtime.requests
    assert request.params.max_tokens == c.CONDENSE_TOKENS
    assert request.params.temperature == 0.0
    assert request.messages[-1].content.endswith("and what about its indent argument?")
    assert "What does json.dumps do?" in request.messages[-1].content


@pytest.mark.parametrize(
    "reply",
    [
        "",  # nothing
        "What does json.dumps do?",  # the earlier question again: drops 'indent'
        "and what about its indent argument?",  # the follow-up unchanged
        " ".join(["word"] * (c.MAX_QUERY_WORDS + 1)),  # rambling
        "The weather is nice today.",  # none of the follow-up's content words
    ],
)
def test_condense_falls_back_to_concatenation(reply: str) -> None:
    _, generate = scripted(reply)
    out = c.condense("and what about its indent argument?", HISTORY, generate)
    assert out.text == "What does json.dumps do? and what about its indent argument?"


def test_condense_prompt_keeps_recent_user_turns_truncated() -> None:
    old = [ChatMessage("user", f"old question number {i}") for i in range(5)]
    long = ChatMessage("user", "zipfile " + "x" * 2000)
    history = [*old, ChatMessage("assistant", "SECRET ANSWER"), long]
    prompt = c.condense_prompt("can it also write them?", history)
    last = prompt[-1].content
    assert "old question number 0" not in last  # beyond the last few messages
    assert "old question number 4" in last
    assert "SECRET ANSWER" not in last  # only the user's questions go in
    assert "zipfile" in last and len(last) < c.HISTORY_CHARS * 3


def test_clean_line_strips_prefixes_quotes_and_later_lines() -> None:
    assert c.clean_line("\n  Rewritten question: 'Is X?'\nUser: more") == "Is X?"
    assert c.clean_line("`json dumps indent`") == "json dumps indent"
    assert c.clean_line("") == ""


# ------------------------------------------------------------ generate_with


def test_generate_with_is_greedy_and_collects_text_and_usage() -> None:
    runtime = FakeRuntime()
    (model,) = runtime.list_models()
    generate = q.generate_with(runtime, model, GenerationParams(temperature=0.9, max_tokens=999))
    out = generate([ChatMessage("user", "one two three four")], 3)
    assert out.text == "Echo: one two"  # cut at max_tokens=3
    assert out.usage is not None and out.usage.completion_tokens == 3
    assert runtime.requests[0].params.temperature == 0.0


def test_generate_with_raises_on_runtime_error() -> None:
    runtime = FakeRuntime(fail_with="model exploded")
    (model,) = runtime.list_models()
    with pytest.raises(ModelError, match="exploded"):
        q.generate_with(runtime, model)([ChatMessage("user", "hi")], 8)


# ------------------------------------------------------------ is_weak


def test_is_weak_on_each_signal() -> None:
    th = q.WeakThresholds(dense_top=0.5, dense_gap=0.05, overlap=0.6)
    strong = RetrievalSignals(
        dense_top=0.7, dense_gap=0.2, keyword_top=9, keyword_hits=50, overlap=1
    )
    assert not q.is_weak(strong, th)
    assert q.is_weak(replace(strong, dense_top=0.45), th)  # nothing close
    assert q.is_weak(replace(strong, dense_gap=0.01), th)  # nothing stands out
    assert q.is_weak(replace(strong, overlap=0.5), th)  # the two searches disagree
    assert not q.is_weak(replace(strong, dense_top=0.5, dense_gap=0.05, overlap=0.6), th)


def test_default_thresholds_flag_off_topic_cosines_only() -> None:
    """The calibrated cosine floor lies between off-corpus questions (<= 0.32
    on the full docs index) and answerable ones (>= 0.51)."""
    good = RetrievalSignals(dense_top=0.51, dense_gap=0.06, keyword_hits=1000, overlap=1.0)
    assert not q.is_weak(good)
    assert q.is_weak(replace(good, dense_top=0.32))


def test_is_weak_without_vectors_uses_keyword_matches() -> None:
    assert q.is_weak(RetrievalSignals(keyword_hits=0))
    assert not q.is_weak(RetrievalSignals(keyword_top=3.0, keyword_hits=12))


def test_is_weak_on_real_retrieval(corpus_kb: KnowledgeBase) -> None:
    store, embedder = corpus_kb.store, corpus_kb.embedder
    good = retrieve(store, embedder, "How often should I feed my sourdough starter?", k=5)
    off = retrieve(store, embedder, "What is the orbital period of Jupiter's moons?", k=5)
    assert not q.is_weak(good.signals), good.signals
    assert q.is_weak(off.signals), off.signals


# ------------------------------------------------------------ rewrite / merge


def test_rewrite_appends_the_expansion_to_the_question() -> None:
    runtime, generate = scripted("Keywords: json.dumps indent separators")
    out = q.rewrite("How do I pretty-print JSON?", generate)
    assert out.text == "How do I pretty-print JSON? json.dumps indent separators"
    assert runtime.requests[0].params.max_tokens == q.REWRITE_TOKENS


def test_rewrite_keeps_the_question_when_the_model_says_nothing() -> None:
    _, generate = scripted("")
    assert q.rewrite("How do I pretty-print JSON?", generate).text == "How do I pretty-print JSON?"


def test_merge_keeps_both_lists_dedups_and_ranks_shared_first() -> None:
    first = [hit(1), hit(2), hit(3)]
    second = [hit(4), hit(3), hit(5), hit(4)]
    merged = q.merge(first, second, 10)
    ids = [h.chunk_id for h in merged]
    assert ids[0] == 3  # found by both
    assert sorted(ids) == [1, 2, 3, 4, 5]  # each once, none lost
    assert ids.index(1) < ids.index(2)  # each list's own order survives
    assert [h.score for h in merged] == sorted((h.score for h in merged), reverse=True)
    assert [h.chunk_id for h in q.merge(first, second, 2)] == ids[:2]
    assert q.merge([], [], 5) == []


def test_merge_on_real_searches(corpus_kb: KnowledgeBase) -> None:
    store, embedder = corpus_kb.store, corpus_kb.embedder
    a = retrieve(store, embedder, "resize an image", k=4).hits
    b = retrieve(store, embedder, "zyqo_scale factor enlarge", k=4).hits
    merged = q.merge(a, b, 8)
    assert {h.chunk_id for h in merged} == {h.chunk_id for h in a + b}
    shared = {h.chunk_id for h in a} & {h.chunk_id for h in b}
    assert shared and merged[0].chunk_id in shared


def test_rewrite_helped_follows_the_best_cosine() -> None:
    before = RetrievalSignals(dense_top=0.40, keyword_top=2.0, keyword_hits=3)
    assert q.rewrite_helped(before, RetrievalSignals(dense_top=0.50))
    assert not q.rewrite_helped(before, RetrievalSignals(dense_top=0.41))
    assert not q.rewrite_helped(before, RetrievalSignals(dense_top=0.30))
    assert q.rewrite_helped(RetrievalSignals(keyword_top=2.0), RetrievalSignals(keyword_top=5.0))


# ------------------------------------------------------------ the real model


@pytest.fixture(scope="module")
def smol(smollm2: tuple[LlamaCppRuntime, ModelInfo]) -> Generate:
    return q.generate_with(*smollm2)


@pytest.mark.real_model
def test_real_condense_names_the_subject(smol: Generate) -> None:
    out = c.condense("and what about its indent argument?", HISTORY, smol)
    text = out.text.lower()
    assert "json" in text or "dumps" in text, out.text
    assert "indent" in text, out.text  # the follow-up's new aspect survives
    assert 2 <= len(out.text.split()) <= c.MAX_QUERY_WORDS
    assert out.usage is not None and 0 < out.usage.completion_tokens <= c.CONDENSE_TOKENS


@pytest.mark.real_model
def test_real_rewrite_is_short_and_keeps_the_question(smol: Generate) -> None:
    question = "How do I pad a numeric string with zeros on the left?"
    out = q.rewrite(question, smol)
    assert out.text.startswith(question)
    assert len(out.text.split()) <= len(question.split()) + c.MAX_QUERY_WORDS
    assert out.usage is not None and 0 < out.usage.completion_tokens <= q.REWRITE_TOKENS


@pytest.mark.real_model
def test_real_generate_with_streams_through_the_runtime(smol: Generate) -> None:
    out = smol([ChatMessage("user", "Say hello.")], 8)
    assert out.text.strip() and "\n" not in out.text
    assert out.usage is not None and out.usage.completion_tokens <= 8
