"""Train a query adapter: the query side of the embedder, fitted to one index.

The index's chunk vectors stay exactly as they are (no re-embedding, the
index stays valid for the plain model); only how a *question* is embedded
changes, so it lands nearer the chunk that answers it. Training pairs come
from the index's structure (``trainer.query_adapter_data``), and every
training step scores a query against *all* of the index's chunk vectors
(a full softmax, not in-batch negatives), so the near neighbours that the
plain model confuses -- ``PyDict_SetDefault`` for ``dict.setdefault`` --
are exactly the negatives it learns from. Other training targets of the
answer's own section are left out of the negatives (``_targets``).

Two kinds:

- ``linear``: ``q' = normalise(W q + b)`` on the frozen model's query
  vector, ``W`` started at the identity and held near it by an L2 penalty.
  Trains on precomputed vectors (44-71 s for 20,858 pairs on 2 cores,
  ``benchmarks/query_adapter_eval.py``); applying it is one matrix product.
- ``encoder``: the whole MiniLM fine-tuned on the queries (passages fixed),
  saved as a sentence-transformers folder (773 s for one epoch on 2 cores).

A run directory holds ``adapter.json`` (kind, the passage model's name and
dimension, the chunk count, the configuration, the held-out figures of the
plain and the adapted query side) and ``adapter.npz`` (``linear``, plain
arrays, loaded with ``allow_pickle=False``) or ``model/`` (``encoder``).
``trainer.query_adapter_embedder`` loads it.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from trainer.errors import TrainingCancelled
from trainer.query_adapter_data import QueryPair

AdapterKind = Literal["linear", "encoder"]
Progress = Callable[[int, int, float], None]
"""Called as ``progress(step, total, loss)`` after each step."""


@dataclass(frozen=True)
class AdapterConfig:
    kind: AdapterKind = "linear"
    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 1e-3
    scale: float = 20.0
    """Cosine similarities are multiplied by this before the softmax
    (temperature 0.05, sentence-transformers' MultipleNegativesRankingLoss)."""
    identity_penalty: float = 1.0
    """``linear``: weight of ``||W - I||^2`` (keeps the plain model's geometry)."""
    seed: int = 0


@dataclass(frozen=True)
class PassageMatrix:
    """The index's chunk vectors as the loss sees them."""

    ids: np.ndarray
    """chunk ids, one per row."""
    vectors: np.ndarray
    """``(n, dim)`` float32, L2-normalised (as stored by the index)."""

    def rows(self, chunk_ids: Sequence[int]) -> np.ndarray:
        position = {int(c): i for i, c in enumerate(self.ids)}
        return np.array([position[c] for c in chunk_ids], dtype=np.int64)


def _targets(pairs: Sequence[QueryPair], passages: PassageMatrix) -> tuple[Any, list[Any]]:
    """Each pair's row in the matrix and the other rows of its section that
    are themselves training targets (not negatives). A section's chunks
    that no pair points at stay negatives: the pairs do not know them."""
    import torch

    rows = passages.rows([p.chunk_id for p in pairs])
    by_group: dict[str, set[int]] = {}
    for pair, row in zip(pairs, rows, strict=True):
        by_group.setdefault(pair.group, set()).add(int(row))
    targets = torch.from_numpy(rows)
    siblings = []
    for pair, row in zip(pairs, rows, strict=True):
        others = sorted(by_group[pair.group] - {int(row)})
        siblings.append(torch.tensor(others) if others else None)
    return targets, siblings


def _loss(queries: Any, matrix: Any, targets: Any, siblings: list[Any], scale: float) -> Any:
    import torch

    logits = scale * queries @ matrix.T
    for row, sib in enumerate(siblings):
        if sib is not None:
            logits[row, sib] = float("-inf")
    return torch.nn.functional.cross_entropy(logits, targets)


def _fit(
    n: int,
    config: AdapterConfig,
    optimiser: Any,
    batch_loss: Callable[[list[int]], Any],
    progress: Progress | None,
    cancelled: Callable[[], bool],
) -> list[float]:
    """The training loop both kinds share: ``config.epochs`` passes over the
    ``n`` pairs in a fresh seeded order, one optimiser step a batch, checking
    for cancellation before each. Returns the per-step losses."""
    order = list(range(n))
    rng = random.Random(config.seed)
    total = math.ceil(n / config.batch_size) * config.epochs
    losses: list[float] = []
    for _ in range(config.epochs):
        rng.shuffle(order)
        for start in range(0, n, config.batch_size):
            if cancelled():
                raise TrainingCancelled("query adapter training cancelled")
            loss = batch_loss(order[start : start + config.batch_size])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
            if progress is not None:
                progress(len(losses), total, losses[-1])
    return losses


def rank_metrics(query_vectors: np.ndarray, targets: np.ndarray, matrix: np.ndarray) -> dict:
    """Top-1 accuracy and MRR@10 of each query's own chunk among all chunks."""
    scores = query_vectors @ matrix.T
    own = scores[np.arange(len(targets)), targets]
    rank = (scores > own[:, None]).sum(axis=1) + 1
    return {
        "n": len(targets),
        "top1": float(np.mean(rank == 1)),
        "mrr@10": float(np.mean(np.where(rank <= 10, 1.0 / rank, 0.0))),
    }


def train_linear(
    query_vectors: np.ndarray,
    pairs: Sequence[QueryPair],
    passages: PassageMatrix,
    config: AdapterConfig,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Fit ``W, b`` on the plain model's query vectors. Returns them and the
    per-step losses."""
    import torch

    torch.manual_seed(config.seed)
    dim = passages.vectors.shape[1]
    matrix = torch.from_numpy(np.ascontiguousarray(passages.vectors))
    queries = torch.from_numpy(np.ascontiguousarray(query_vectors, dtype=np.float32))
    targets, siblings = _targets(pairs, passages)
    weight = torch.nn.Parameter(torch.eye(dim))
    bias = torch.nn.Parameter(torch.zeros(dim))
    optimiser = torch.optim.Adam([weight, bias], lr=config.learning_rate)
    eye = torch.eye(dim)

    def batch_loss(batch: list[int]) -> Any:
        adapted = torch.nn.functional.normalize(queries[batch] @ weight.T + bias, dim=1)
        loss = _loss(adapted, matrix, targets[batch], [siblings[i] for i in batch], config.scale)
        return loss + config.identity_penalty * ((weight - eye) ** 2).sum()

    losses = _fit(len(pairs), config, optimiser, batch_loss, progress, cancelled)
    return weight.detach().numpy().copy(), bias.detach().numpy().copy(), losses


def apply_linear(vectors: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    out = vectors @ weight.T + bias
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (out / norms).astype(np.float32)


def train_encoder(
    model_dir: Path,
    pairs: Sequence[QueryPair],
    passages: PassageMatrix,
    config: AdapterConfig,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> tuple[Any, list[float]]:
    """Fine-tune the sentence-transformers model at ``model_dir`` as a query
    encoder. Returns the model (in eval mode) and the per-step losses."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(config.seed)
    model = SentenceTransformer(str(model_dir), device="cpu")
    model.train()
    # sentence-transformers 5 renamed ``tokenize`` to ``preprocess``.
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    matrix = torch.from_numpy(np.ascontiguousarray(passages.vectors))
    targets, siblings = _targets(pairs, passages)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)

    def batch_loss(batch: list[int]) -> Any:
        features = tokenize([pairs[i].query for i in batch])
        adapted = torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=1)
        return _loss(adapted, matrix, targets[batch], [siblings[i] for i in batch], config.scale)

    losses = _fit(len(pairs), config, optimiser, batch_loss, progress, cancelled)
    model.eval()
    return model, losses


def write_run(
    out_dir: Path,
    config: AdapterConfig,
    passage_model: str,
    passages: PassageMatrix,
    pairs: dict[str, int],
    heldout: dict[str, Any],
    seconds: float,
    linear: tuple[np.ndarray, np.ndarray] | None = None,
    encoder: Any = None,
) -> Path:
    """Save a finished adapter (see the module docstring for the layout)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if config.kind == "linear":
        if linear is None:
            raise ValueError("a linear adapter needs its weight and bias")
        np.savez(out_dir / "adapter.npz", weight=linear[0], bias=linear[1])
    else:
        if encoder is None:
            raise ValueError("an encoder adapter needs its model")
        encoder.save(str(out_dir / "model"))
    meta = {
        "kind": config.kind,
        "passage_model": passage_model,
        "dim": int(passages.vectors.shape[1]),
        "chunks": len(passages.ids),
        "pairs": pairs,
        "config": asdict(config),
        "heldout": heldout,
        "seconds": round(seconds, 1),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (out_dir / "adapter.json").write_text(json.dumps(meta, indent=1))
    return out_dir
