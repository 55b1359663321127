"""The cross-encoder reranker: a sentence-transformers ``CrossEncoder`` from
a folder the user has (``rerank`` has the overview)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from backend.common.hf_offline import hf_offline
from backend.knowledge.records import DocumentHit
from backend.rag.rerank_base import RerankerError, passage_text, rescored


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
        hf_offline()
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

    def rerank(self, query: str, hits: list[DocumentHit]) -> list[DocumentHit]:
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
        return rescored(hits, [float(s) for s in scores])
