"""With the watcher running, saved changes become searchable by themselves."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from backend.knowledge.service import KnowledgeBase


def eventually(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_watcher_keeps_the_index_current(kb: KnowledgeBase, tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.md").write_text("# Start\n\nNothing interesting here yet.\n")
    kb.add_folder(root)
    kb.index()
    notices = kb.watch()
    assert notices == []

    def found(word: str) -> bool:
        return any(word in h.text for h in kb.search(word, k=3, mode="keyword"))

    # a new file
    (root / "b.md").write_text("The zeppelin landed in the meadow.")
    eventually(lambda: found("zeppelin"))
    # an edit
    (root / "a.md").write_text("# Start\n\nA quokka smiled at the camera.\n")
    eventually(lambda: found("quokka"))
    # a whole folder moved in
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "c.md").write_text("Xylophones echo in the hall.")
    outside.rename(root / "moved")
    eventually(lambda: found("Xylophones"))
    # a rename, then a delete
    (root / "b.md").rename(root / "renamed.md")
    eventually(lambda: any(h.path.endswith("renamed.md") for h in kb.search("zeppelin", k=3)))
    (root / "renamed.md").unlink()
    eventually(lambda: not found("zeppelin"))
    counts = kb.store.counts()
    assert counts["chunks"] == counts["fts"] == counts["vectors"]


def test_out_of_inotify_watches_falls_back_to_polling(
    kb: KnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from backend.knowledge import watcher as watcher_module

    class NoWatches:
        def schedule(self, *args: object, **kwargs: object) -> None:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

        def start(self) -> None: ...

    monkeypatch.setattr(watcher_module, "Observer", NoWatches)
    root = tmp_path / "polled"
    root.mkdir()
    kb.add_folder(root)
    kb.index()
    notices = kb.watch()
    assert len(notices) == 1 and "polling" in notices[0] and str(root) in notices[0]
    (root / "new.md").write_text("A narwhal surfaced near the boat.")
    eventually(lambda: any("narwhal" in h.text for h in kb.search("narwhal", k=1, mode="keyword")))
