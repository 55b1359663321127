"""The indexes ``retrieval_compare.py`` compares, built once and cached.

Two pipelines, each on a corpus (the 530 HTML pages, or the whole docs
folder):

- ``ours``: the product's own path -- ``KnowledgeBase.add_folder`` and
  ``KnowledgeBase.index()`` with default settings, exactly what
  ``assistant index`` runs (structure-aware HTML sections, token-counted
  chunks, heading path embedded). Lever builds (another chunk size, heading
  path not embedded) use the same ``Indexer`` with one thing changed.
- ``naive``: the issue's baseline, implemented here only: the page's plain
  text (BeautifulSoup ``get_text``, scripts and styles dropped, whitespace
  collapsed), cut into
  180-word chunks, each prefixed with the page title; MiniLM; FTS5 bm25;
  reciprocal rank fusion (k = 60) at query time; no tuning. It is stored
  in the product's own schema (title as the chunk's heading), so every
  query-time lever can also run over it.

An index lives in ``WORK/<name>-<key>/assistant.db``; ``key`` hashes the
corpus, the pipeline and its settings, and a ``done`` file marks a finished
build, so a second run reuses it and an interrupted one resumes (the
indexer is resumable).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from backend.knowledge.chunking import Chunker
from backend.knowledge.embedder import Embedder
from backend.knowledge.index_store import IndexStore
from backend.knowledge.indexer import Indexer
from backend.knowledge.records import Chunk, ParsedDocument, Section
from backend.knowledge.scanner import ScanRules
from backend.store.db import Database
from backend.store.migrations import migrate

NAIVE_WORDS = 180
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class BuildSpec:
    """One index: which pipeline, on which corpus, with which settings."""

    name: str
    corpus: str
    pipeline: str = "ours"  # "ours" | "naive"
    max_tokens: int = 256
    overlap_tokens: int = 32
    heading_embedded: bool = True
    include: tuple[str, ...] = ()
    """Include globs (``("*.html",)`` for the pages; empty = the whole folder)."""

    def key(self) -> str:
        data = json.dumps({**asdict(self), "name": ""}, sort_keys=True)
        return hashlib.sha256(data.encode()).hexdigest()[:10]

    def home(self, work: Path) -> Path:
        return work / f"{self.name}-{self.key()}"


def naive_parse(path: Path, max_bytes: int = 20_000_000) -> ParsedDocument:
    """Plain text of a page (title from ``<title>``); other files as the
    product's parser reads them, flattened to one section."""
    if path.suffix.lower() in (".html", ".htm"):
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(path.read_bytes(), "html.parser")
        title = soup.title.get_text(" ", strip=True) if soup.title else path.stem
        for tag in soup(["script", "style"]):
            tag.decompose()
        # no separator between text nodes: the page reads as a browser shows
        # it, so "zipfile." + "ZipFile" stays one string
        text = " ".join(soup.get_text().split())
    else:
        from backend.knowledge.parsers import parse_file

        doc = parse_file(path, max_bytes)
        title, text = doc.title or path.name, doc.text
    return ParsedDocument(text, [Section(text, (title,), None, 0, len(text))], "text", title)


class NaiveChunker:
    """``NAIVE_WORDS``-word windows, no overlap; the title is the heading,
    so the indexer embeds ``title\\nchunk`` (the model truncates past 256)."""

    def chunk(self, doc: ParsedDocument) -> list[Chunk]:
        title = doc.title or ""
        words = list(_WORD.finditer(doc.text))
        chunks = []
        for at in range(0, len(words), NAIVE_WORDS):
            part = words[at : at + NAIVE_WORDS]
            start, end = part[0].start(), part[-1].end()
            chunks.append(Chunk(doc.text[start:end], (title,), None, start, end, len(part)))
        return chunks


class _BareIndexer(Indexer):
    """The product's indexer, embedding the chunk text without its heading path."""

    @staticmethod
    def embed_text(chunk: Chunk) -> str:
        return chunk.text


def _open(home: Path) -> Database:
    home.mkdir(parents=True, exist_ok=True)
    db = Database(home / "assistant.db")
    migrate(db)
    return db


def build(spec: BuildSpec, work: Path, embedder: Embedder, log: Any = print) -> Path:
    """The database of ``spec``'s index, built first unless cached."""
    home = spec.home(work)
    done = home / "done"
    if done.exists():
        return home / "assistant.db"
    log(f"building {spec.name} ({spec.pipeline}, {spec.corpus}) in {home}")
    started = time.perf_counter()
    db = _open(home)
    if spec.pipeline == "ours" and spec.max_tokens == 256 and spec.heading_embedded:
        from backend.knowledge.service import KnowledgeBase

        kb = KnowledgeBase(db, embedder)
        kb.add_folder(spec.corpus, include=spec.include)
        summary = kb.index()
        kb.close()
    else:
        store = IndexStore(db)
        store.ensure_vectors(embedder.name, embedder.dim)
        folder = store.add_folder(Path(spec.corpus), spec.include)
        if spec.pipeline == "naive":
            indexer: Indexer = Indexer(store, embedder, NaiveChunker, naive_parse)
        else:
            cls = Indexer if spec.heading_embedded else _BareIndexer

            def chunker() -> Chunker:
                return Chunker(
                    embedder.chunk_tokenizer(),
                    max_tokens=min(spec.max_tokens, embedder.max_tokens),
                    overlap_tokens=spec.overlap_tokens,
                )

            from backend.knowledge.parsers import parse_file

            indexer = cls(store, embedder, chunker, parse_file)
        rules = ScanRules(include=spec.include)
        summary = indexer.run([(folder.id, Path(spec.corpus), rules)])
    counts = IndexStore(db).counts()
    db.close()
    info = {
        "spec": asdict(spec),
        "counts": counts,
        "seconds": round(time.perf_counter() - started, 1),
        "failed": len(summary.failed),
    }
    done.write_text(json.dumps(info, indent=1))
    log(f"built {spec.name}: {counts} in {info['seconds']} s")
    return home / "assistant.db"


def build_info(spec: BuildSpec, work: Path) -> dict[str, Any]:
    done = spec.home(work) / "done"
    return json.loads(done.read_text()) if done.exists() else {}


if __name__ == "__main__":  # build one index: python benchmarks/compare_indexes.py NAME ...
    import argparse

    from backend.knowledge.embedder import SentenceTransformerEmbedder

    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--pipeline", default="ours")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--bare", action="store_true", help="heading path not embedded")
    parser.add_argument("--include", default="", help="comma-separated globs")
    a = parser.parse_args()
    include = tuple(g for g in a.include.split(",") if g)
    spec = BuildSpec(
        a.name, a.corpus, a.pipeline, a.max_tokens, heading_embedded=not a.bare, include=include
    )
    build(spec, a.work, SentenceTransformerEmbedder())
