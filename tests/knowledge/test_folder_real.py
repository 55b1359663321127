"""A small real folder with the real MiniLM: three pages of the Python
3.11 documentation as Debian's python3.11-doc installs them (PSF licence,
``tests/data/pydocs_mini``), each with Sphinx's ``_sources/`` copy of its
reST source, plus an image and the first 6 KB of the minified
``searchindex.js``. The image and the script are skipped with their
reasons, each source is a duplicate of its page, and a search returns each
page once."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.knowledge.embedder import Embedder
from backend.knowledge.service import KnowledgeBase
from backend.store.db import Database
from backend.store.migrations import migrate

DATA = Path(__file__).resolve().parent.parent / "data" / "pydocs_mini"
PAGES = ("getpass", "grp", "pwd")


@pytest.fixture
def real_kb(tmp_path: Path, minilm: Embedder) -> Iterator[KnowledgeBase]:
    db = Database(tmp_path / "kb.db")
    migrate(db)
    kb = KnowledgeBase(db, minilm)
    yield kb
    kb.close()
    db.close()


def test_real_docs_folder_skips_assets_and_stores_each_page_once(
    real_kb: KnowledgeBase, tmp_path: Path
) -> None:
    root = tmp_path / "html"
    shutil.copytree(DATA, root)
    real_kb.add_folder(root)
    summary = real_kb.index()

    def rel(path: str) -> str:
        return Path(path).relative_to(root).as_posix()

    assert not summary.failed
    assert {rel(p): r for p, r in summary.skipped} == {
        "_images/py.png": "image",
        "searchindex.js": "minified",
    }
    assert {rel(p): rel(c) for p, c in summary.duplicates} == {
        f"_sources/library/{page}.rst.txt": f"library/{page}.html" for page in PAGES
    }
    assert sorted(rel(d.path) for d in real_kb.documents(status="indexed")) == [
        f"library/{page}.html" for page in PAGES
    ]
    counts = real_kb.store.counts()
    assert counts["chunks"] == counts["vectors"] == summary.chunks

    for query, page in (
        ("read a password from the terminal without echoing it", "getpass"),
        ("group database entry with the numerical group id", "grp"),
        ("Unix password database entry: pw_uid, pw_dir and pw_shell", "pwd"),
    ):
        hits = real_kb.search(query, k=10)
        assert rel(hits[0].path) == f"library/{page}.html", (query, hits[0].path)
        assert not any("_sources" in h.path for h in hits)
        texts = [" ".join(h.text.split()) for h in hits]
        assert len(texts) == len(set(texts))  # no passage twice
    assert real_kb.index().unchanged == 8  # every file recorded once: nothing re-read
