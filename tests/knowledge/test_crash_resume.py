"""kill -9 in the middle of indexing, then restart: the sweep resumes where
it stopped, no document is half-indexed, and chunk, FTS and vector counts
agree. The indexing runs in a real child process that is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from backend.knowledge.embedder import Embedder
from backend.knowledge.service import KnowledgeBase
from backend.store.db import Database
from backend.store.migrations import migrate

from .conftest import CountingEmbedder
from .test_indexer import consistent

CHILD = r"""
import sys, time
from pathlib import Path
import backend.knowledge.indexer as indexer
from backend.knowledge.embedder import Embedder, SentenceTransformerEmbedder
from backend.knowledge.service import KnowledgeBase
from backend.store.db import Database
from backend.store.migrations import migrate

indexer.BATCH_CHUNKS = 1  # write every document on its own, so a kill lands between them


class Slow(SentenceTransformerEmbedder):
    def embed(self, texts):
        time.sleep(0.15)
        return super().embed(texts)


db = Database(sys.argv[1])
migrate(db)
kb = KnowledgeBase(db, Slow())
kb.add_folder(sys.argv[2])
kb.index()
print("finished", flush=True)
"""

N = 40


def indexed_count(db_path: Path) -> int:
    import pysqlite3.dbapi2 as sqlite3

    try:
        conn = sqlite3.connect(str(db_path), timeout=5)
        try:
            return int(
                conn.execute("SELECT count(*) FROM documents WHERE status = 'indexed'").fetchone()[
                    0
                ]
            )
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0  # not created yet


def test_kill_9_mid_index_then_resume(tmp_path: Path, minilm: Embedder) -> None:
    embedder = CountingEmbedder(minilm)  # the killed process indexed with the real MiniLM
    root = tmp_path / "docs"
    root.mkdir()
    for i in range(N):
        (root / f"doc{i:02}.md").write_text(
            f"# Document {i}\n\n" + f"Paragraph about subject number {i}. " * 40
        )
    db_path = tmp_path / "kb.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db_path), str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    try:
        while indexed_count(db_path) < 3:
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the child never indexed anything"
            time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL

    db = Database(db_path)
    migrate(db)
    kb = KnowledgeBase(db, embedder)
    try:
        done_before = len(kb.store.documents(status="indexed"))
        assert 3 <= done_before < N, "the kill must land mid-sweep"
        consistent(kb)  # no half-written document survived the kill
        summary = kb.index()
        assert summary.indexed == N - done_before  # only the rest is embedded
        assert summary.unchanged == done_before
        assert len(kb.store.documents(status="indexed")) == N
        counts = consistent(kb)
        assert counts["documents"] == N
        hit = kb.search("subject number 7", k=3, mode="keyword")
        assert any(h.path.endswith("doc07.md") for h in hit)
    finally:
        kb.close()
        db.close()
