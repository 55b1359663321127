"""``RagPipeline.retrieve`` on the real small corpus: when the hidden model
calls fire, and what the rewrite does to the final list."""

from __future__ import annotations

from pathlib import Path

from backend.common.config import RagSettings
from backend.knowledge.service import KnowledgeBase
from backend.rag.pipeline import RagPipeline
from backend.rag.types import Completion, Generate
from backend.runtimes.base import ChatMessage


def _scripted(reply: str, calls: list[list[ChatMessage]]) -> Generate:
    def generate(messages: list[ChatMessage], max_tokens: int) -> Completion:
        calls.append(messages)
        return Completion(reply)

    return generate


def _names(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [Path(h.path).name for h in hits]


def test_strong_question_costs_no_model_call(corpus_kb: KnowledgeBase) -> None:
    calls: list[list[ChatMessage]] = []
    result = RagPipeline(corpus_kb, RagSettings()).retrieve(
        "How often should I feed the sourdough starter?", generate=_scripted("x", calls)
    )
    assert not result.weak and result.rewritten is None and calls == []
    assert _names(result.hits)[0] == "sourdough.md"
    assert [s.stage for s in result.stages] == ["retrieve"]


def test_weak_question_rewrites_once_and_logs_it(corpus_kb: KnowledgeBase) -> None:
    calls: list[list[ChatMessage]] = []
    result = RagPipeline(corpus_kb, RagSettings()).retrieve(
        "What is the capital of Mongolia?", generate=_scripted("Ulaanbaatar city", calls)
    )
    assert result.weak and len(calls) == 1
    assert result.rewritten == "What is the capital of Mongolia? Ulaanbaatar city"
    rewrite = next(s for s in result.stages if s.stage == "rewrite")
    assert rewrite.detail["weak"] is True and rewrite.detail["helped"] is result.rewrite_helped


def test_a_rewrite_that_finds_closer_passages_is_merged(corpus_kb: KnowledgeBase) -> None:
    pipeline = RagPipeline(corpus_kb, RagSettings())
    question = "How can I enlarge something?"
    first = pipeline.retrieve(question, mode="hybrid")
    result = pipeline.retrieve(
        question, mode="rewrite", generate=_scripted("zyqo_scale resize image factor", [])
    )
    assert result.rewrite_helped is True
    assert "zyqo.md" in _names(result.hits)
    assert _names(result.hits) != _names(first.hits)


def test_a_rewrite_that_does_not_help_leaves_the_first_list(corpus_kb: KnowledgeBase) -> None:
    question = "How can I enlarge something?"
    unhelpful = "pasta coffee espresso"
    keep = RagPipeline(corpus_kb, RagSettings())
    first = keep.retrieve(question, mode="hybrid")
    result = keep.retrieve(question, mode="rewrite", generate=_scripted(unhelpful, []))
    assert result.rewrite_helped is False
    assert [h.chunk_id for h in result.hits] == [h.chunk_id for h in first.hits]
    # The old rule merged whatever came back, pulling the noise in.
    merged = RagPipeline(corpus_kb, RagSettings(merge_only_if_helped=False)).retrieve(
        question, mode="rewrite", generate=_scripted(unhelpful, [])
    )
    assert [h.chunk_id for h in merged.hits] != [h.chunk_id for h in first.hits]


def test_follow_up_is_condensed_before_searching(corpus_kb: KnowledgeBase) -> None:
    calls: list[list[ChatMessage]] = []
    history = [
        ChatMessage("user", "How do I score a sourdough loaf?"),
        ChatMessage("assistant", "With a razor, so it opens in the oven."),
    ]
    result = RagPipeline(corpus_kb, RagSettings(rewrite="never")).retrieve(
        "and how long does it proof?",
        history=history,
        generate=_scripted("How long does a sourdough loaf proof?", calls),
    )
    assert len(calls) == 1 and result.searched == "How long does a sourdough loaf proof?"
    assert result.stages[0].stage == "condense"
    assert _names(result.hits)[0] == "sourdough.md"
    assert any("proof" in h.text for h in result.hits[:2])
