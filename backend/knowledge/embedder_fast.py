"""Faster ways to run the same all-MiniLM-L6-v2 model on a CPU.

``benchmarks/embedding_speed.py`` measures each backend against the fp32
torch one (``SentenceTransformerEmbedder``) on the Python docs corpus: chunks
per second of embedding, and passage-level Recall@5 on the evaluation sets.
The backends here:

* ``TorchInt8Embedder``: torch dynamic int8 quantization of the Linear layers
  (all of them, or only the feed-forward ones with attention kept fp32);
* ``OnnxEmbedder``: the model exported to ONNX (from the local weights, in
  memory, when first used) and run by ONNX Runtime, optionally with its int8
  dynamic quantization.

Their vectors are close to fp32's but not identical, so each has its own
``name``: the index records which backend made its vectors and asks for a
re-embed when it changes, exactly as for a different model.

``make_embedder`` builds the one that ``[knowledge] embedding_backend`` names.
"""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np

from backend.common.hf_offline import hf_offline
from backend.knowledge.embedder import (
    Embedder,
    SentenceTransformerEmbedder,
    bundled_embedder_dir,
    normalise,
)
from backend.knowledge.errors import EmbeddingError

Backend = Literal["torch-fp32", "torch-int8", "torch-int8-ffn", "onnx", "onnx-int8"]
BACKENDS: tuple[Backend, ...] = ("torch-fp32", "torch-int8", "torch-int8-ffn", "onnx", "onnx-int8")


def _offline_env() -> None:
    hf_offline()


class TorchInt8Embedder(SentenceTransformerEmbedder):
    """``SentenceTransformerEmbedder`` with torch dynamic int8 Linear layers.

    ``scope="all"`` quantizes every Linear layer; ``scope="ffn"`` only the
    feed-forward ones (``intermediate.dense`` and ``output.dense`` of each
    layer), keeping attention in fp32.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        batch_size: int = 32,
        scope: Literal["all", "ffn"] = "all",
        name: str | None = None,
    ) -> None:
        super().__init__(model_dir, batch_size=batch_size, device="cpu", name=name)
        self.scope = scope
        self._quantized = False

    @property
    def name(self) -> str:
        if self._name is not None:
            return self._name
        base = self.model_dir.name if self.model_dir is not None else "all-MiniLM-L6-v2"
        return base + ("-int8" if self.scope == "all" else "-int8ffn")

    def _load(self) -> Any:
        model = super()._load()
        with self._lock:
            if not self._quantized:
                import torch

                hf = model[0].model
                spec: set[Any]
                if self.scope == "all":
                    spec = {torch.nn.Linear}
                else:
                    spec = {
                        n
                        for n, m in hf.named_modules()
                        if isinstance(m, torch.nn.Linear)
                        and (n.endswith("intermediate.dense") or n.endswith(".output.dense"))
                        and ".attention." not in n
                    }
                try:
                    q = torch.ao.quantization.quantize_dynamic(hf, spec, dtype=torch.qint8)
                except Exception as err:
                    raise EmbeddingError(f"cannot quantize the embedding model: {err}") from None
                model[0].model = q
                self._quantized = True
            return model


class _Exportable:
    """The HF encoder with keyword arguments, for ``torch.onnx.export``."""

    @staticmethod
    def wrap(hf: Any) -> Any:
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                out = self.inner(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                )
                return out.last_hidden_state

        return Wrapper(hf).eval()


class OnnxEmbedder(Embedder):
    """The sentence-transformers model run by ONNX Runtime (mean pooling,
    L2 normalisation), exported from the local weights on first use.

    Texts are sorted by length before batching (padding costs as much as real
    tokens), then the original order is restored. ``quantize=True`` applies
    ONNX Runtime's dynamic int8 quantization to the exported graph.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        batch_size: int = 32,
        quantize: bool = False,
        threads: int | None = None,
        name: str | None = None,
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.batch_size = max(1, batch_size)
        self.quantize = quantize
        self.threads = threads
        self._name = name
        self._session: Any = None
        self._tokenizer: Any = None
        self._max_len = 256
        self._dim = 384
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        if self._name is not None:
            return self._name
        base = self.model_dir.name if self.model_dir is not None else "all-MiniLM-L6-v2"
        return base + ("-onnx-int8" if self.quantize else "-onnx")

    @property
    def dim(self) -> int:
        self._load()
        return self._dim

    @property
    def max_tokens(self) -> int:
        self._load()
        return self._max_len

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            directory = self.model_dir or bundled_embedder_dir()
            if not (directory / "config.json").is_file():
                raise EmbeddingError(f"no embedding model found in {directory}")
            _offline_env()
            pooling = directory / "1_Pooling" / "config.json"
            if pooling.is_file():
                cfg = json.loads(pooling.read_text(encoding="utf-8"))
                if not cfg.get("pooling_mode_mean_tokens", False):
                    raise EmbeddingError(
                        f"the ONNX backend supports mean pooling only; {directory} uses another"
                    )
            try:
                self._session, self._tokenizer, self._max_len, self._dim = self._build(directory)
            except EmbeddingError:
                raise
            except Exception as err:  # torch/onnx/onnxruntime raise many types
                raise EmbeddingError(
                    f"cannot prepare the ONNX embedding model from {directory}: {err}"
                ) from None

    def _build(self, directory: Path) -> tuple[Any, Any, int, int]:
        import warnings

        try:
            import onnxruntime as ort
        except ImportError:
            raise EmbeddingError("the ONNX backend needs the 'onnxruntime' package") from None
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        st: Any = SentenceTransformer(str(directory), device="cpu")
        tokenizer = st.tokenizer
        max_len = int(st.max_seq_length)
        hf = st[0].model.eval()
        dim = int(hf.config.hidden_size)
        sample = tokenizer(["export the model", "to onnx"], padding=True, return_tensors="pt")
        names = ["input_ids", "attention_mask", "token_type_ids"]
        axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}
        with tempfile.TemporaryDirectory(prefix="assistant-onnx-") as tmp:
            path = Path(tmp) / "model.onnx"
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    _Exportable.wrap(hf),
                    tuple(sample[n] for n in names),
                    str(path),
                    input_names=names,
                    output_names=["last_hidden_state"],
                    dynamic_axes=axes,
                    opset_version=17,
                    dynamo=False,
                )
            if self.quantize:
                from onnxruntime.quantization import QuantType, quantize_dynamic

                qpath = Path(tmp) / "model-int8.onnx"
                quantize_dynamic(str(path), str(qpath), weight_type=QuantType.QInt8)
                path = qpath
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            threads = self.threads or torch.get_num_threads()
            options.intra_op_num_threads = max(1, threads)
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(
                path.read_bytes(), options, providers=["CPUExecutionProvider"]
            )
        del st, hf
        return session, tokenizer, max_len, dim

    def _run(self, texts: list[str]) -> np.ndarray:
        enc = self._tokenizer(
            texts, padding=True, truncation=True, max_length=self._max_len, return_tensors="np"
        )
        feeds = {
            "input_ids": enc["input_ids"].astype(np.int64),
            "attention_mask": enc["attention_mask"].astype(np.int64),
            "token_type_ids": enc.get("token_type_ids", np.zeros_like(enc["input_ids"])).astype(
                np.int64
            ),
        }
        hidden = self._session.run(["last_hidden_state"], feeds)[0]
        mask = feeds["attention_mask"][:, :, None].astype(np.float32)
        summed = (hidden * mask).sum(axis=1)
        counts = np.clip(mask.sum(axis=1), 1e-9, None)
        return summed / counts

    def embed(self, texts: list[str]) -> np.ndarray:
        self._load()
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            try:
                out[idx] = self._run([texts[i] for i in idx])
            except Exception as err:
                raise EmbeddingError(f"embedding failed: {err}") from None
        return normalise(out)


# Other models entirely, not ways to run MiniLM (so not in ``BACKENDS``).
PluginBackend = Literal["llamacpp", "ollama"]


def make_embedder(
    backend: Backend | PluginBackend = "torch-fp32",
    model_dir: Path | None = None,
    batch_size: int = 32,
    *,
    gguf: Path | None = None,
    ollama_url: str | None = None,
    ollama_model: str | None = None,
) -> Embedder:
    """The embedder for ``[knowledge] embedding_backend``; nothing loads yet.

    ``llamacpp`` embeds with the GGUF ``gguf`` (default: the bundled one),
    ``ollama`` with ``ollama_model`` on the server at ``ollama_url``.
    """
    if backend == "llamacpp":
        from backend.knowledge.embedder_llama import LlamaCppEmbedder

        return LlamaCppEmbedder(gguf)
    if backend == "ollama":
        from backend.knowledge.embedder_ollama import DEFAULT_MODEL, DEFAULT_URL, OllamaEmbedder

        return OllamaEmbedder(
            ollama_model or DEFAULT_MODEL, ollama_url or DEFAULT_URL, batch_size=batch_size
        )
    if backend == "torch-fp32":
        return SentenceTransformerEmbedder(model_dir, batch_size=batch_size)
    if backend == "torch-int8":
        return TorchInt8Embedder(model_dir, batch_size=batch_size, scope="all")
    if backend == "torch-int8-ffn":
        return TorchInt8Embedder(model_dir, batch_size=batch_size, scope="ffn")
    if backend == "onnx":
        return OnnxEmbedder(model_dir, batch_size=batch_size)
    if backend == "onnx-int8":
        return OnnxEmbedder(model_dir, batch_size=batch_size, quantize=True)
    raise ValueError(f"unknown embedding backend {backend!r}; choose from {', '.join(BACKENDS)}")
