"""Duplicates through a folder's life, on the fake embedder: first index,
editing, failing and deleting the canonical, a better copy arriving later,
re-embedding. After each sweep every duplicate points at an indexed
canonical, owns no chunks, and the counts of chunks, FTS rows and vectors
agree."""

from __future__ import annotations

import random
from pathlib import Path

from pytest import MonkeyPatch

from backend.knowledge.dedupe import DuplicateFinder
from backend.knowledge.duplicate_rows import duplicates_of
from backend.knowledge.service import KnowledgeBase

from .conftest import CountingEmbedder
from .test_indexer import consistent

VOCAB = [f"term{i}" for i in range(2000)]


def prose(seed: int, n: int = 400) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(VOCAB) for _ in range(n))


def html(title: str, body: str) -> str:
    head = f"<html><head><title>{title}</title></head>"
    return f"{head}<body><h1>{title}</h1><p>{body}</p></body></html>"


def make_site(root: Path) -> Path:
    (root / "_sources").mkdir(parents=True)
    (root / "notes").mkdir()
    (root / "guide.html").write_text(html("Guide", prose(1)))
    (root / "_sources" / "guide.rst.txt").write_text("Guide\n=====\n\n" + prose(1))
    (root / "notes" / "a.md").write_text("# A\n\n" + prose(2))
    (root / "notes" / "copy-of-a.md").write_text("# A\n\n" + prose(2))
    (root / "notes" / "other.md").write_text("# Other\n\n" + prose(3))
    return root


def relations(kb: KnowledgeBase, root: Path) -> dict[str, str | None]:
    def rel(p: str | None) -> str | None:
        return None if p is None else Path(p).relative_to(root).as_posix()

    return {rel(d.path) or "": rel(d.duplicate_of) for d in kb.store.documents()}


def check(kb: KnowledgeBase) -> None:
    consistent(kb)
    for d in kb.store.documents():
        if d.duplicate_of is not None:
            assert d.status == "skipped" and d.chunk_count == 0, d
            assert d.error is not None and d.error.startswith("duplicate of "), d
            canonical = kb.store.document(d.duplicate_of)
            assert canonical is not None and canonical.status == "indexed", canonical


def test_duplicates_are_stored_once_and_follow_their_canonical(
    kb: KnowledgeBase, embedder: CountingEmbedder, tmp_path: Path
) -> None:
    root = make_site(tmp_path / "site")
    kb.add_folder(root)
    first = kb.index()
    assert relations(kb, root) == {
        "_sources/guide.rst.txt": "guide.html",
        "guide.html": None,
        "notes/copy-of-a.md": "notes/a.md",
        "notes/a.md": None,
        "notes/other.md": None,
    }
    assert first.indexed == 3 and len(first.duplicates) == 2 and not first.failed
    assert embedder.embedded == first.chunks  # the copies were never embedded
    assert kb.store.documents(status="skipped")[0].error == "duplicate of guide.html"
    (status,) = kb.folder_statuses()
    assert (status.indexed, status.duplicates, status.skipped) == (3, 2, 0)
    hits = kb.search(prose(2)[:200], k=10, mode="keyword")
    assert {Path(h.path).name for h in hits} <= {"a.md", "guide.html", "other.md"}
    check(kb)
    assert kb.index().unchanged == 5  # nothing re-read

    # the canonical page changes: it is re-indexed and its source re-attached
    (root / "guide.html").write_text(html("Guide", prose(1) + " a new closing sentence"))
    edited = kb.index()
    assert edited.indexed == 1 and [Path(p).name for p, _ in edited.duplicates] == ["guide.rst.txt"]
    assert relations(kb, root)["_sources/guide.rst.txt"] == "guide.html"
    check(kb)

    # the canonical note becomes another text: its copy is promoted
    (root / "notes" / "a.md").write_text("# A\n\n" + prose(9))
    promoted = kb.index()
    assert promoted.indexed == 2 and not promoted.duplicates
    assert relations(kb, root)["notes/copy-of-a.md"] is None
    assert kb.store.document(str(root / "notes" / "copy-of-a.md")).chunk_count > 0  # type: ignore[union-attr]
    check(kb)

    # the page is deleted: its source copy is indexed in the same sweep
    (root / "guide.html").unlink()
    gone = kb.index()
    assert gone.removed == 1 and gone.indexed == 1
    src = kb.store.document(str(root / "_sources" / "guide.rst.txt"))
    assert src is not None and src.status == "indexed" and src.chunk_count > 0
    check(kb)

    # the page comes back: the better copy wins and the source is demoted
    (root / "guide.html").write_text(html("Guide", prose(1)))
    back = kb.index()
    assert back.indexed == 1 and [Path(p).name for p, _ in back.duplicates] == ["guide.rst.txt"]
    assert relations(kb, root)["_sources/guide.rst.txt"] == "guide.html"
    assert duplicates_of(kb.store.db, str(root / "guide.html")) == [
        str(root / "_sources" / "guide.rst.txt")
    ]
    check(kb)

    # the page breaks (not a document any more): the source takes over
    (root / "guide.html").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    broken = kb.index()
    assert [r for _, r in broken.skipped] == ["image"]
    assert relations(kb, root)["_sources/guide.rst.txt"] is None
    check(kb)

    # re-embedding keeps every relation
    (root / "guide.html").write_text(html("Guide", prose(1)))
    kb.index()
    before = relations(kb, root)
    kb.reembed()
    kb.index()
    assert relations(kb, root) == before
    check(kb)


def test_a_copy_in_the_same_batch_waits_for_its_canonical(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    """Many small exact copies of one note: all but one become duplicates
    even though the canonical is still in the embedding batch."""
    root = tmp_path / "copies"
    root.mkdir()
    text = "# Same\n\n" + prose(5, 120)
    for i in range(6):
        (root / f"copy{i}.md").write_text(text)
    kb.add_folder(root)
    summary = kb.index()
    assert summary.indexed == 1 and len(summary.duplicates) == 5
    assert {Path(c).name for _, c in summary.duplicates} == {"copy0.md"}
    check(kb)


def test_an_index_from_before_duplicates_is_collapsed_without_embedding(
    kb: KnowledgeBase, embedder: CountingEmbedder, tmp_path: Path, monkeypatch: MonkeyPatch
) -> None:
    root = make_site(tmp_path / "site")
    kb.add_folder(root)
    with monkeypatch.context() as m:  # what an older version did: every copy indexed
        m.setattr(DuplicateFinder, "match", lambda self, path, sig: None)
        kb.index()
    with kb.store.db.transaction() as c:  # and it stored no signatures
        c.execute("UPDATE documents SET text_hash = NULL, minhash = NULL")
    assert len(kb.store.documents(status="indexed")) == 5
    embedded = embedder.embedded
    summary = kb.index()
    assert embedder.embedded == embedded  # nothing re-read or re-embedded
    assert sorted(Path(p).name for p, _ in summary.duplicates) == [
        "copy-of-a.md",
        "guide.rst.txt",
    ]
    assert relations(kb, root)["_sources/guide.rst.txt"] == "guide.html"
    check(kb)
    assert kb.index().duplicates == []  # once
