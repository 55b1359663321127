"""Indexing whole folders for real: incremental sweeps, bad files, resume."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backend.knowledge.embedder import Embedder
from backend.knowledge.errors import FolderError
from backend.knowledge.service import KnowledgeBase

from .conftest import CountingEmbedder

TEXTS = {
    "bread.md": "# Baking\n\n## Bread\n\nKnead the dough for ten minutes, then let it rise.\n",
    "soup.txt": "Simmer the vegetables slowly in a large pot for an hour.",
    "notes/paris.md": "# Travel\n\nThe capital of France is Paris, home of the Eiffel Tower.\n",
}


def make_corpus(root: Path) -> Path:
    for rel, text in TEXTS.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def consistent(kb: KnowledgeBase) -> dict[str, int]:
    counts = kb.store.counts()
    assert counts["chunks"] == counts["fts"] == counts["vectors"], counts
    for doc in kb.store.documents():
        assert doc.chunk_count == len(kb.store.chunks(doc.path)), doc
    return counts


def test_incremental_sweeps_embed_only_what_changed(
    kb: KnowledgeBase, embedder: CountingEmbedder, tmp_path: Path
) -> None:
    root = make_corpus(tmp_path / "docs")
    kb.add_folder(root)
    first = kb.index()
    assert first.indexed == 3 and not first.failed
    consistent(kb)
    embedded = embedder.embedded
    assert embedded == first.chunks > 0

    again = kb.index()  # nothing changed: nothing read, nothing embedded
    assert (again.indexed, again.unchanged) == (0, 3)
    assert embedder.embedded == embedded

    os.utime(root / "soup.txt")  # touched, same content: no re-embed
    touched = kb.index()
    assert touched.indexed == 0 and embedder.embedded == embedded

    (root / "soup.txt").write_text("Whisk the eggs with sugar until pale.")
    changed = kb.index()
    assert changed.indexed == 1
    assert embedder.embedded == embedded + changed.chunks
    assert kb.search("whisk eggs sugar", k=1)[0].path.endswith("soup.txt")
    assert not any("Simmer" in h.text for h in kb.search("simmer vegetables", k=5, mode="keyword"))

    (root / "notes" / "paris.md").unlink()
    removed = kb.index()
    assert removed.removed == 1
    assert all(not h.path.endswith("paris.md") for h in kb.search("capital of France", k=5))
    consistent(kb)


def test_bad_files_are_recorded_and_everything_else_is_indexed(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    root = make_corpus(tmp_path / "docs")
    (root / "binary.txt").write_bytes(b"\x00\x01\x02\x03" * 200)
    (root / "empty.txt").write_bytes(b"")
    (root / "corrupt.pdf").write_bytes(b"%PDF-1.4\n this is not really a pdf")
    (root / "latin1.txt").write_bytes("crème brûlée à la française".encode("latin-1"))
    (root / "huge.txt").write_text("word " * 400_000)  # 2 MB, over the 1 MB limit below
    (root / "loop").symlink_to(root)
    kb.add_folder(root, max_file_bytes=1_000_000)
    summary = kb.index()
    reasons = {Path(p).name: r for p, r in summary.failed}
    skipped = {Path(p).name: r for p, r in summary.skipped}
    assert skipped["binary.txt"] == "binary"  # not a document: skipped, not failed
    assert reasons["empty.txt"] == "empty file"
    assert "PDF" in reasons["corrupt.pdf"]
    assert "limit" in skipped["huge.txt"]
    assert "symlink loop" in reasons["loop"]
    assert set(reasons) == {"empty.txt", "corrupt.pdf", "loop"}
    statuses = {Path(d.path).name: d.status for d in kb.store.documents()}
    assert statuses["huge.txt"] == statuses["binary.txt"] == "skipped"
    assert statuses["empty.txt"] == statuses["corrupt.pdf"] == "failed"
    assert statuses["latin1.txt"] == "indexed"
    assert all(statuses[Path(n).name] == "indexed" for n in TEXTS)
    assert kb.search("crème brûlée", k=1, mode="keyword")[0].path.endswith("latin1.txt")
    consistent(kb)
    # failed files are not retried on every sweep while unchanged
    assert kb.index().indexed == 0


def test_ignored_and_hidden_files_are_not_indexed(kb: KnowledgeBase, tmp_path: Path) -> None:
    root = make_corpus(tmp_path / "docs")
    (root / ".git").mkdir()
    (root / ".git" / "config.txt").write_text("secret git stuff")
    (root / "node_modules").mkdir()
    (root / "node_modules" / "lib.md").write_text("vendored library readme")
    (root / ".gitignore").write_text("*.log\n")
    (root / "debug.log").write_text("log line")
    (root / "draft.tmp.md").write_text("a draft")
    kb.add_folder(root, exclude=("*.tmp.md",))
    kb.index()
    names = {Path(d.path).name for d in kb.store.documents(status="indexed")}
    assert names == {"bread.md", "soup.txt", "paris.md"}
    # the vendored folder is one skipped entry with its reason, nothing under it
    skipped = [(Path(d.path).name, d.error) for d in kb.store.documents(status="skipped")]
    assert skipped == [("node_modules", "vendored packages")]
    assert kb.index().skipped == []  # recorded once, unchanged afterwards


def test_folder_errors_and_removal(kb: KnowledgeBase, tmp_path: Path) -> None:
    with pytest.raises(FolderError, match="does not exist"):
        kb.add_folder(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(FolderError, match="not a folder"):
        kb.add_folder(tmp_path / "file.txt")
    root = make_corpus(tmp_path / "docs")
    folder = kb.add_folder(root)
    kb.index()
    assert kb.store.counts()["chunks"] > 0
    kb.remove_folder(str(root))
    assert kb.store.counts() == {"documents": 0, "chunks": 0, "fts": 0, "vectors": 0}
    assert kb.store.folder(folder.id) is None


def test_cancel_keeps_what_was_written_and_a_new_sweep_finishes(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    import threading

    root = tmp_path / "many"
    root.mkdir()
    for i in range(30):
        (root / f"doc{i:02}.txt").write_text(f"Document number {i} talks about topic {i}. " * 5)
    kb.add_folder(root)
    cancel = threading.Event()

    def progress(p: object) -> None:
        if getattr(p, "done", 0) >= 3:
            cancel.set()

    first = kb.index(progress=progress, cancel=cancel)  # type: ignore[arg-type]
    assert first.cancelled and 0 < first.indexed < 30
    consistent(kb)
    second = kb.index()
    assert second.indexed == 30 - first.indexed
    assert len(kb.store.documents(status="indexed")) == 30
    consistent(kb)


def test_changing_the_embedding_model_asks_for_a_reembed(
    kb: KnowledgeBase, embedder: CountingEmbedder, tmp_path: Path
) -> None:
    from backend.knowledge.errors import ModelMismatch

    root = make_corpus(tmp_path / "docs")
    kb.add_folder(root)
    kb.index()

    class Renamed(CountingEmbedder):
        @property
        def name(self) -> str:
            return "another-model"

    other = Renamed(embedder.inner)
    switched = KnowledgeBase(kb.store.db, other)
    with pytest.raises(ModelMismatch, match="--reembed"):
        switched.index()
    with pytest.raises(ModelMismatch):
        switched.search("bread", mode="dense")
    assert kb.search("bread", k=1, mode="keyword")  # nothing was mixed or lost
    switched.reembed()
    summary = switched.index()
    assert summary.indexed == 3 and other.embedded == summary.chunks
    assert switched.store.vector_model() == ("another-model", embedder.dim)
    assert switched.search("knead the dough", k=1)[0].path.endswith("bread.md")
    consistent(switched)


async def test_configured_embedding_model_is_used_and_a_missing_one_is_a_clear_error(
    tmp_path: Path,
) -> None:
    from backend import Backend
    from backend.common.config import KnowledgeSettings, Settings
    from backend.common.locations import Locations
    from backend.knowledge.errors import EmbeddingError
    from backend.runtimes.fake import FakeRuntime

    settings = Settings(knowledge=KnowledgeSettings(embedding_model_dir=tmp_path / "nomodel"))
    backend = await Backend.open(
        locations=Locations(tmp_path / "home"), settings=settings, runtimes=[FakeRuntime()]
    )
    try:
        await backend.documents.add_folder(str(make_corpus(tmp_path / "docs")))
        with pytest.raises(EmbeddingError, match="no embedding model found"):
            await backend.documents.index()
        assert backend.core.kb.embedder.name == "nomodel"
    finally:
        await backend.close()


def test_a_sweep_with_nothing_to_do_loads_no_model(
    kb: KnowledgeBase, tmp_path: Path, minilm: Embedder
) -> None:
    from backend.knowledge.embedder import SentenceTransformerEmbedder

    first = KnowledgeBase(kb.store.db, minilm)  # indexed by the real model
    first.add_folder(make_corpus(tmp_path / "docs"))
    first.index()
    fresh = SentenceTransformerEmbedder()  # as at the next app start
    restarted = KnowledgeBase(kb.store.db, fresh)
    summary = restarted.index()
    assert (summary.indexed, summary.unchanged) == (0, 3)
    assert fresh._model is None and restarted._chunker is None
