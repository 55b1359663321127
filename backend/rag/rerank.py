"""Second-stage rerankers behind the ``Reranker`` protocol (``types.py``).

Each takes the first stage's candidates and returns the same hits, each with
its ``score`` replaced by the reranker's, best first (a stable sort: ties keep
the first stage's order). None is ever dropped or invented. ``[rag] reranker``
picks one through ``make_reranker``:

* ``auto`` (the default) -- the configured ``cross_encoder_dir``, else a
  cross-encoder the model library pulled, else none (``rerank_auto``).
* ``none`` -- ``NoReranker``, the first-stage order as it is.
* ``cross-encoder`` -- ``CrossEncoderReranker``: a sentence-transformers
  ``CrossEncoder`` read from a folder the user has (``cross_encoder_dir``).
  No cross-encoder ships offline on PyPI (``assistant models pull
  ms-marco-minilm-l6`` gets one); a folder that is not a single-score
  cross-encoder is refused up front instead of being silently "converted"
  with a random head (which sentence-transformers does, with only a log
  warning, for a bi-encoder folder).
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

from collections.abc import Sequence

from backend.common.config import LlamaSettings, RagSettings
from backend.modelfiles.catalog import ModelInfo
from backend.modelhub.records import InstalledFolder
from backend.rag.rerank_auto import choose_reranker, downloaded_rerankers
from backend.rag.rerank_base import NoReranker, RerankerError, passage_text
from backend.rag.rerank_cross import CrossEncoderReranker, check_cross_encoder_dir
from backend.rag.rerank_llm import LlmReranker, resolve_llm_model
from backend.rag.types import Reranker, RerankerInUse

__all__ = [
    "CrossEncoderReranker",
    "LlmReranker",
    "NoReranker",
    "RerankerError",
    "build_reranker",
    "check_cross_encoder_dir",
    "choose_reranker",
    "downloaded_rerankers",
    "make_reranker",
    "passage_text",
    "resolve_llm_model",
]


def build_reranker(
    choice: RerankerInUse,
    *,
    catalog: Sequence[ModelInfo] = (),
    llama: LlamaSettings | None = None,
) -> Reranker:
    """The reranker ``choice`` (``choose_reranker``) names.

    ``catalog`` resolves ``llm_reranker_model`` names (paths and the bundled
    model need none); ``llama`` supplies threads and GPU layers for the LLM
    reranker. Nothing is loaded here, only checked (folder layout, GGUF
    header), so a misconfiguration fails with a clear error before any
    question is asked.
    """
    if choice.kind == "cross-encoder" and choice.path is not None:
        return CrossEncoderReranker(choice.path)
    if choice.kind == "llm":
        path = resolve_llm_model(choice.name, catalog)
        threads = (llama.n_threads_batch or llama.n_threads) if llama else None
        gpu = llama.n_gpu_layers if llama and llama.n_gpu_layers is not None else 0
        return LlmReranker(path, n_threads=threads, n_gpu_layers=gpu)
    return NoReranker()


def make_reranker(
    settings: RagSettings,
    *,
    catalog: Sequence[ModelInfo] = (),
    llama: LlamaSettings | None = None,
    downloaded: Sequence[InstalledFolder] = (),
) -> Reranker:
    """The reranker ``[rag] reranker`` names; ``auto`` may pick one of
    ``downloaded`` (``downloaded_rerankers``). See ``build_reranker``.

    Raises:
        ConfigError: ``cross-encoder`` without a folder, an unknown kind.
        RerankerError, ModelError: the model named is not usable.
    """
    return build_reranker(choose_reranker(settings, downloaded), catalog=catalog, llama=llama)
