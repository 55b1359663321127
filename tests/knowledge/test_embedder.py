"""The bundled MiniLM embedder, run for real (offline, CPU)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from backend.knowledge.embedder import Embedder, SentenceTransformerEmbedder, bundled_embedder_dir
from backend.knowledge.errors import EmbeddingError

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(batch_size=4)


def test_bundled_model_dir_exists() -> None:
    assert (bundled_embedder_dir() / "config.json").is_file()


def test_model_is_not_loaded_until_first_use() -> None:
    e = SentenceTransformerEmbedder()
    assert e.name == "all-MiniLM-L6-v2"
    assert e._model is None


def test_dim_max_tokens_and_normalised(embedder: SentenceTransformerEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    assert embedder.dim == 384
    assert embedder.max_tokens == 256
    vecs = embedder.embed(["hello world", "a second, longer sentence about cats"])
    assert vecs.shape == (2, 384)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_similar_sentences_are_closer(embedder: SentenceTransformerEmbedder) -> None:
    a, b, c = embedder.embed(
        [
            "The cat sat on the mat.",
            "A kitten was sitting on the rug.",
            "Quarterly tax filings are due in April.",
        ]
    )
    assert float(a @ b) > float(a @ c) + 0.2


def test_batching_preserves_order(embedder: SentenceTransformerEmbedder) -> None:
    texts = [("word " * n).strip() + f" item {n}" for n in (1, 40, 3, 25, 7, 60, 2, 11, 5)]
    batched = embedder.embed(texts)
    one_by_one = np.vstack([embedder.embed([t]) for t in texts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-4)


def test_empty_input(embedder: SentenceTransformerEmbedder) -> None:
    assert embedder.embed([]).shape == (0, 384)


def test_missing_model_dir_is_a_clear_error(tmp_path: Path) -> None:
    e = SentenceTransformerEmbedder(model_dir=tmp_path / "nope")
    with pytest.raises(EmbeddingError, match="no embedding model"):
        e.embed(["x"])
    assert EmbeddingError.title


def test_a_custom_model_folder_chunks_with_its_own_tokenizer(tmp_path: Path) -> None:
    """The chunker must count with the vocabulary of the model that embeds:
    a folder whose tokenizer splits differently gives different counts."""
    import json

    from backend.knowledge.chunking import Chunker, default_model_dir

    assert SentenceTransformerEmbedder().chunk_tokenizer() is None  # bundled: chunker default
    custom = tmp_path / "my-model"
    custom.mkdir()
    spec = json.loads((default_model_dir() / "tokenizer.json").read_text())
    # A vocabulary without "##" pieces for this word: every letter is a token.
    spec["model"]["vocab"] = {
        t: i for t, i in spec["model"]["vocab"].items() if t != "indexing" and "##" not in t
    }
    (custom / "tokenizer.json").write_text(json.dumps(spec))
    own = SentenceTransformerEmbedder(custom).chunk_tokenizer()
    assert own is not None
    text = "indexing indexing indexing"
    assert Chunker(own).count([text])[0] != Chunker().count([text])[0]
