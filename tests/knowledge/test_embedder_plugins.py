"""The pluggable embedders, for real: llama.cpp over the bundled SmolLM2 GGUF,
and Ollama's HTTP protocol served on loopback by the real MiniLM model."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backend.common.config import parse_settings
from backend.common.errors import ConfigError
from backend.knowledge.chunking import Chunker
from backend.knowledge.embedder import Embedder
from backend.knowledge.embedder_fast import make_embedder
from backend.knowledge.embedder_llama import LlamaCppEmbedder
from backend.knowledge.embedder_ollama import OllamaEmbedder
from backend.knowledge.errors import EmbeddingError, ModelMismatch
from backend.knowledge.records import ParsedDocument, Section
from backend.knowledge.service import KnowledgeBase
from backend.modelfiles.catalog import bundled_model_path
from backend.store.db import Database
from backend.store.migrations import migrate

DOCS = {
    "bread.md": "# Baking\n\n## Bread\n\nKnead the dough for ten minutes, then let it rise.\n",
    "soup.txt": "Simmer the vegetables slowly in a large pot for an hour.",
    "notes/paris.md": "# Travel\n\nThe capital of France is Paris, home of the Eiffel Tower.\n",
}


def make_corpus(root: Path) -> Path:
    for rel, text in DOCS.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def open_kb(path: Path, embedder: Embedder) -> KnowledgeBase:
    db = Database(path)
    migrate(db)
    return KnowledgeBase(db, embedder)


def close_kb(kb: KnowledgeBase) -> None:
    kb.close()
    kb.store.db.close()


def consistent(kb: KnowledgeBase) -> dict[str, int]:
    counts = kb.store.counts()
    assert counts["chunks"] == counts["fts"] == counts["vectors"] > 0, counts
    return counts


# --------------------------------------------------------------- llama.cpp --


@pytest.fixture(scope="module")
def llama() -> LlamaCppEmbedder:
    if bundled_model_path() is None:
        pytest.fail("the bundled SmolLM2 GGUF is not installed")
    return LlamaCppEmbedder(n_threads=2)


def test_llama_name_identifies_the_file_and_nothing_loads(tmp_path: Path) -> None:
    e = LlamaCppEmbedder()
    path = bundled_model_path()
    assert path is not None
    assert e.name.startswith(f"llamacpp:{path.stem}:")
    assert (e.dim, e.max_tokens) == (576, 512)  # from the header: SmolLM2-135M
    assert e._llm is None
    # another file (here: the same file truncated) is another model, and unusable
    cut = tmp_path / path.name
    with open(path, "rb") as src:
        cut.write_bytes(src.read(3 << 20))
    broken = LlamaCppEmbedder(cut)
    assert broken.name != e.name and broken.name.startswith(f"llamacpp:{path.stem}:")
    with pytest.raises(EmbeddingError, match=r"truncated|shorter"):
        broken.embed(["hello"])
    with pytest.raises(EmbeddingError, match="does not exist"):
        _ = LlamaCppEmbedder(tmp_path / "missing.gguf").name


def test_llama_vectors_are_normalised_and_meaningful(llama: LlamaCppEmbedder) -> None:
    texts = [
        "The capital of France is Paris.",
        "Paris is the capital city of France.",
        "Knead the dough for ten minutes, then let it rise.",
        "",
    ]
    v = llama.embed(texts)
    assert v.shape == (4, 576) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v[:3], axis=1), 1.0, atol=1e-5)
    assert not v[3].any()  # an empty text has no vector: zeros, never garbage
    assert v[0] @ v[1] > v[0] @ v[2] + 0.05
    # batching never mixes sequences: alone or in a batch, the same vector
    alone = llama.embed([texts[2]])[0]
    assert float(alone @ v[2]) > 0.9999


def test_llama_chunks_are_counted_in_the_models_own_tokens(llama: LlamaCppEmbedder) -> None:
    tok = llama.chunk_tokenizer()
    text = "héllo wörld — 日本語 😀\n\n  indented  code. Next sentence!"
    enc = tok.encode(text, add_special_tokens=False)
    spans = [text[s:e] for s, e in enc.offsets]
    assert "Next" in spans and "sentence" in spans and "😀" in spans
    assert all(s == s.strip() for s in spans)
    # Whitespace is invisible to MiniLM but costs this model tokens: a chunk
    # counted by MiniLM would be far longer than the model takes.
    body = " ".join(f"word{i}" + " " * 40 for i in range(60))
    doc = ParsedDocument(body, [Section(body, (), None, 0, len(body))], "text")
    chunker = Chunker(tok, max_tokens=64, overlap_tokens=8)
    chunks = chunker.chunk(doc)
    assert all(c.tokens <= 64 for c in chunks)
    assert all(n <= 64 for n in tok_counts(llama, [c.text for c in chunks]))
    by_minilm = Chunker(max_tokens=64, overlap_tokens=8).chunk(doc)
    assert max(tok_counts(llama, [c.text for c in by_minilm])) > 64
    assert "word59" in chunks[-1].text and "word0" in chunks[0].text


def tok_counts(llama: LlamaCppEmbedder, texts: list[str]) -> list[int]:
    """Counts from the embedding model's ``Llama`` itself, as ``embed`` sees them."""
    llm = llama._load()
    return [len(llm.tokenize(t.encode("utf-8"))) for t in texts]


def test_llama_indexes_a_folder_and_switching_models_asks_for_reembed(
    llama: LlamaCppEmbedder, minilm: Embedder, tmp_path: Path
) -> None:
    root = make_corpus(tmp_path / "docs")
    db_path = tmp_path / "kb.db"
    first = open_kb(db_path, minilm)
    first.add_folder(root)
    assert first.index().indexed == 3
    before = consistent(first)
    close_kb(first)

    kb = open_kb(db_path, llama)
    try:
        with pytest.raises(ModelMismatch, match="reembed"):
            kb.index()
        with pytest.raises(ModelMismatch):
            kb.search("capital of France", mode="dense")
        assert kb.store.vector_model() == (minilm.name, 384)  # untouched
        assert kb.store.counts() == before

        kb.reembed()
        assert kb.store.vector_model() == (llama.name, 576)
        assert kb.store.counts()["vectors"] == 0  # no MiniLM vector survives
        summary = kb.index()
        assert summary.indexed == 3 and not summary.failed
        consistent(kb)
        # SmolLM2 is a chat model, a weak embedder: its own sentences, not
        # paraphrases, are what it reliably finds.
        for query, path in [
            ("The capital of France is Paris", "paris.md"),
            ("Knead the dough for ten minutes, then let it rise.", "bread.md"),
            ("Simmer the vegetables slowly in a large pot", "soup.txt"),
        ]:
            assert kb.search(query, k=3, mode="dense")[0].path.endswith(path), query
    finally:
        close_kb(kb)


# ------------------------------------------------------------------ Ollama --


class _OllamaHandler(BaseHTTPRequestHandler):
    """Ollama's ``POST /api/embed``, answered by the real MiniLM model."""

    server: _OllamaServer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        request = json.loads(self.rfile.read(length))
        self.server.requests.append(request)
        if self.path != "/api/embed":
            self._reply(404, {"error": "404 page not found"})
            return
        model = request.get("model", "")
        texts = request["input"] if isinstance(request["input"], list) else [request["input"]]
        if model in ("chat-only", "chat-only:latest"):
            self._reply(200, {"model": model, "embeddings": []})
            return
        if model not in ("all-minilm", "all-minilm:latest"):
            self._reply(404, {"error": f'model "{model}" not found, try pulling it first'})
            return
        vectors = self.server.embedder.embed(texts)
        self._reply(200, {"model": model, "embeddings": vectors.tolist()})


class _OllamaServer(ThreadingHTTPServer):
    def __init__(self, embedder: Embedder) -> None:
        super().__init__(("127.0.0.1", 0), _OllamaHandler)
        self.embedder = embedder
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def ollama(minilm: Embedder) -> Iterator[_OllamaServer]:
    server = _OllamaServer(minilm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_ollama_embeds_over_http(ollama: _OllamaServer, minilm: Embedder) -> None:
    e = OllamaEmbedder("all-minilm", ollama.url, batch_size=2)
    assert e.name == "ollama:all-minilm:latest"
    assert OllamaEmbedder("all-minilm:latest", ollama.url).name == e.name
    assert OllamaEmbedder("all-minilm:v2", ollama.url).name != e.name
    assert ollama.requests == []  # nothing asked yet
    assert e.dim == 384  # one probe
    texts = [DOCS["bread.md"], DOCS["soup.txt"], DOCS["notes/paris.md"], "a", "b"]
    vectors = e.embed(texts)
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    assert np.allclose(vectors, minilm.embed(texts), atol=1e-6)
    batches = [r["input"] for r in ollama.requests[1:]]
    assert batches == [texts[0:2], texts[2:4], texts[4:5]]
    assert all(r["truncate"] is True and r["model"] == "all-minilm" for r in ollama.requests)


def test_ollama_indexes_and_searches_through_the_knowledge_base(
    ollama: _OllamaServer, tmp_path: Path
) -> None:
    kb = open_kb(tmp_path / "kb.db", OllamaEmbedder("all-minilm", ollama.url))
    try:
        kb.add_folder(make_corpus(tmp_path / "docs"))
        assert kb.index().indexed == 3
        consistent(kb)
        assert kb.store.vector_model() == ("ollama:all-minilm:latest", 384)
        hits = kb.search("which city is the French capital", k=3, mode="dense")
        assert hits[0].path.endswith("paris.md")
    finally:
        close_kb(kb)


def test_ollama_errors_are_clear(ollama: _OllamaServer) -> None:
    missing = OllamaEmbedder("nomic-embed-text", ollama.url)
    with pytest.raises(EmbeddingError, match="does not have the model") as err:
        missing.embed(["hello"])
    assert "nomic-embed-text" in str(err.value) and "ollama pull" in str(err.value)
    assert ollama.url in str(err.value)

    with pytest.raises(EmbeddingError, match="one vector per text"):
        OllamaEmbedder("chat-only", ollama.url).embed(["hello"])

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = OllamaEmbedder("all-minilm", f"http://127.0.0.1:{port}", timeout=5)
    with pytest.raises(EmbeddingError, match="cannot reach") as err:
        _ = down.dim
    assert f"127.0.0.1:{port}" in str(err.value) and "all-minilm" in str(err.value)

    with pytest.raises(EmbeddingError, match="not an http"):
        OllamaEmbedder("all-minilm", "127.0.0.1:11434")


# ------------------------------------------------------------------ config --


def test_config_picks_the_plugin_embedders(tmp_path: Path) -> None:
    gguf = tmp_path / "model.gguf"
    k = parse_settings(
        {"knowledge": {"embedding_backend": "llamacpp", "embedding_gguf": str(gguf)}}
    ).knowledge
    e = make_embedder(k.embedding_backend, gguf=k.embedding_gguf)
    assert isinstance(e, LlamaCppEmbedder) and e.model_path == gguf

    k = parse_settings(
        {
            "knowledge": {
                "embedding_backend": "ollama",
                "ollama_url": "http://10.0.0.2:11434",
                "ollama_embedding_model": "mxbai-embed-large",
            }
        }
    ).knowledge
    e = make_embedder(
        k.embedding_backend, ollama_url=k.ollama_url, ollama_model=k.ollama_embedding_model
    )
    assert isinstance(e, OllamaEmbedder)
    assert (e.base_url, e.name) == ("http://10.0.0.2:11434", "ollama:mxbai-embed-large:latest")

    defaults = parse_settings({}).knowledge
    assert (defaults.ollama_url, defaults.embedding_gguf) == ("http://127.0.0.1:11434", None)
    with pytest.raises(ConfigError, match=r"knowledge\.ollama_url"):
        parse_settings({"knowledge": {"ollama_url": "localhost:11434"}})
    with pytest.raises(ConfigError, match=r"knowledge\.embedding_backend"):
        parse_settings({"knowledge": {"embedding_backend": "word2vec"}})
