"""The faster embedding backends, run for real on the bundled MiniLM (CPU).

Each must give normalised 384-d vectors in input order, close to the fp32
torch ones (the bounds are below what ``benchmarks/embedding_speed.py``
measured on the Python docs), and rank texts the way fp32 does.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from backend.knowledge.embedder import Embedder, SentenceTransformerEmbedder
from backend.knowledge.embedder_fast import (
    BACKENDS,
    OnnxEmbedder,
    TorchInt8Embedder,
    make_embedder,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Lowest acceptable mean / per-text cosine against fp32 on TEXTS.
BOUNDS = {
    "torch-int8": (0.90, 0.85),
    "torch-int8-ffn": (0.90, 0.85),
    "onnx": (0.9999, 0.999),
    "onnx-int8": (0.93, 0.88),
}

TEXTS = [
    "How do I count how many times each word occurs in a list?",
    "library > collections > Counter objects\nA Counter is a dict subclass for counting "
    "hashable objects. It is a collection where elements are stored as dictionary keys "
    "and their counts are stored as dictionary values.",
    "json.dumps(obj) serializes obj to a JSON formatted str.",
    "The cat sat on the mat.",
    "asyncio.gather runs awaitable objects in the aws sequence concurrently. " * 6,
    "zipfile > ZipFile Objects\nZipFile.namelist() returns a list of archive members by name.",
    "short",
    "Quarterly tax filings are due in April.",
]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return SentenceTransformerEmbedder(batch_size=4).embed(TEXTS)


@pytest.fixture(scope="module", params=[b for b in BACKENDS if b != "torch-fp32"])
def fast(request: pytest.FixtureRequest) -> tuple[str, Embedder]:
    return request.param, make_embedder(request.param, batch_size=4)


def test_make_embedder_loads_nothing_and_names_each_backend() -> None:
    names = set()
    for backend in BACKENDS:
        e = make_embedder(backend)
        names.add(e.name)
        if isinstance(e, OnnxEmbedder):
            assert e._session is None
        elif isinstance(e, SentenceTransformerEmbedder):
            assert e._model is None
    assert make_embedder("torch-fp32").name == "all-MiniLM-L6-v2"
    assert len(names) == len(BACKENDS)  # vectors of two backends are never mixed
    assert isinstance(make_embedder("torch-int8"), TorchInt8Embedder)
    with pytest.raises(ValueError):
        make_embedder("nope")  # type: ignore[arg-type]


def test_shape_normalised_and_close_to_fp32(
    fast: tuple[str, Embedder], reference: np.ndarray
) -> None:
    backend, e = fast
    assert e.dim == 384
    assert e.max_tokens == 256
    vecs = e.embed(TEXTS)
    assert vecs.shape == (len(TEXTS), 384)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    cos = (vecs * reference).sum(axis=1)
    mean_bound, min_bound = BOUNDS[backend]
    assert float(cos.mean()) > mean_bound, cos
    assert float(cos.min()) > min_bound, cos
    assert e.embed([]).shape == (0, 384)


def test_order_is_preserved(fast: tuple[str, Embedder]) -> None:
    _, e = fast
    batched = e.embed(TEXTS)
    one_by_one = np.vstack([e.embed([t]) for t in TEXTS])
    # Each row must be its own text's vector (dynamic quantization makes a
    # text's vector depend a little on its batch, so not exactly equal).
    assert np.all((batched * one_by_one).sum(axis=1) > 0.9)
    sims = batched @ one_by_one.T
    assert np.all(sims.argmax(axis=1) == np.arange(len(TEXTS)))


def test_ranking_sanity(fast: tuple[str, Embedder]) -> None:
    _, e = fast
    a, b, c = e.embed(
        [
            "The cat sat on the mat.",
            "A kitten was sitting on the rug.",
            "Quarterly tax filings are due in April.",
        ]
    )
    assert float(a @ b) > float(a @ c) + 0.2
    query, counter, json_, *_ = e.embed(TEXTS[:4])
    assert float(query @ counter) > float(query @ json_)
