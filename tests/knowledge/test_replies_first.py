"""Replies come first (``backend.common.reply_gate``): background indexing
stands aside while a reply is generated -- in the same app, and in another
process on the same data folder -- and a process that dies mid-reply never
holds it back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from backend.common.config import GenerationSettings, Settings
from backend.common.events import MessageSaved, TextDelta
from backend.common.locations import Locations
from backend.common.reply_gate import ReplyGate
from backend.knowledge import indexer
from backend.knowledge.service import KnowledgeBase
from backend.local.backend import Backend
from backend.runtimes.fake import FakeRuntime
from backend.store.db import Database
from backend.store.migrations import migrate
from tests.fake_embedder import FakeEmbedder

from .test_indexer import consistent


class SlowEmbedder(FakeEmbedder):
    """Embeds like the fake, taking a model's time, and records when it ran.

    With ``hold_batch`` set, that indexing batch waits (``holding`` set)
    until ``release`` is set: a test can have a reply start while a batch
    is under way however fast or slow the machine is."""

    def __init__(self, per_text_s: float = 0.01, hold_batch: int | None = None) -> None:
        super().__init__()
        self.per_text_s = per_text_s
        self.calls: list[tuple[float, float]] = []
        """(start, end) of each indexing batch (a query, one text, is not one)."""
        self.hold_batch = hold_batch
        self.holding = threading.Event()
        self.release = threading.Event()
        self._batches = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        started = time.monotonic()
        if len(texts) > 1:
            self._batches += 1
            if self._batches == self.hold_batch:
                self.holding.set()
                self.release.wait(timeout=60)
        time.sleep(self.per_text_s * len(texts))
        out = super().embed(texts)
        if len(texts) > 1:
            self.calls.append((started, time.monotonic()))
        return out


def write_folder(root: Path, docs: int = 40) -> Path:
    root.mkdir(parents=True)
    for i in range(docs):
        paras = "\n\n".join(f"Section {j} of note {i}: " + "word " * 60 for j in range(4))
        (root / f"note{i:03}.md").write_text(f"# Note {i}\n\n{paras}\n")
    return root


def test_the_gate_sees_replies_here_and_in_other_processes(tmp_path: Path) -> None:
    gate = ReplyGate(tmp_path / "replying.lock")
    assert not gate.busy()
    with gate.reply():
        assert gate.busy()
        assert ReplyGate(tmp_path / "replying.lock").busy()  # another open file: same answer
    assert not gate.busy()
    cancel = threading.Event()
    cancel.set()
    with gate.reply():
        assert gate.wait_idle(cancel) < 0.1  # a cancelled wait never blocks


def test_back_to_back_replies_are_not_a_quiet_spell(tmp_path: Path) -> None:
    """Past turns are indexed in a pause: replies with short gaps between
    them (the next question sent at once) never count as one, however the
    gaps fall against the poll."""
    gate = ReplyGate(tmp_path / "replying.lock")
    stop = threading.Event()
    last_end = [0.0]

    def chat() -> None:
        while not stop.is_set():
            with gate.reply():
                time.sleep(0.1)
                last_end[0] = time.monotonic()  # at or before the reply's end
            time.sleep(0.005)  # a gap shorter than a poll

    talker = threading.Thread(target=chat)
    talker.start()
    threading.Timer(1.5, stop.set).start()
    try:
        gate.wait_quiet(0.3)
        returned = time.monotonic()
    finally:
        stop.set()
        talker.join()
    assert returned - last_end[0] >= 0.29  # 0.3 s after the last reply, not in a gap


async def test_a_reply_pauses_indexing_in_the_app_and_the_index_ends_consistent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexer, "BATCH_CHUNKS", 16)  # 80 chunks: five embedding calls
    embedder = SlowEmbedder(per_text_s=0.01, hold_batch=1)
    backend = await Backend.open(
        locations=Locations(tmp_path / "home"),
        settings=Settings(
            default_model="fake-model", generation=GenerationSettings(max_tokens=600)
        ),
        runtimes=[FakeRuntime(delay_s=0.01, reply_words=300)],
        embedder=embedder,
    )
    try:
        await backend.documents.add_folder(str(write_folder(tmp_path / "docs")))
        sweep = asyncio.create_task(backend.documents.index())
        # the first batch is under way (held) when the reply is asked for
        assert await asyncio.to_thread(embedder.holding.wait, 60)
        start = time.monotonic()
        events: list[object] = []
        async for event in await backend.chat.send(None, "tell me a long story"):
            events.append(event)
            if isinstance(event, TextDelta):
                embedder.release.set()  # the batch ends while the reply is written
        end = time.monotonic()
        embedder.release.set()
        assert isinstance(events[-1], MessageSaved) and events[-1].stop_reason in ("length", "stop")
        summary = await sweep
    finally:
        embedder.release.set()
        await backend.close()
    assert summary.indexed == 40 and not summary.failed and not summary.cancelled
    assert summary.yielded_s > 0.5 * (end - start)  # it stood aside for most of the reply
    # no embedding batch started while the reply was being written (one may
    # have been under way when it began: that is the most a reply waits)
    started_during = [s for s, _ in embedder.calls if start + 0.35 < s < end - 0.05]
    assert started_during == []
    assert any(s >= end - 0.05 for s, _ in embedder.calls)  # and it went on afterwards
    db = Database(tmp_path / "home" / "assistant.db")
    try:
        counts = consistent(KnowledgeBase(db, FakeEmbedder()))
    finally:
        db.close()
    assert counts["chunks"] >= 40


REPLYING = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from backend.common.config import GenerationSettings, Settings
    from backend.common.events import TextDelta
    from backend.common.locations import Locations
    from backend.local.backend import Backend
    from backend.runtimes.fake import FakeRuntime

    async def main():
        backend = await Backend.open(
            locations=Locations(Path(sys.argv[1])),
            settings=Settings(default_model="fake-model",
                              generation=GenerationSettings(max_tokens=3000)),
            runtimes=[FakeRuntime(delay_s=0.05, reply_words=3000)],
        )
        async for event in await backend.chat.send(None, "a very long story"):
            if isinstance(event, TextDelta):
                print("replying", flush=True)
                await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


def test_a_reply_in_another_process_pauses_indexing_and_a_kill_releases_it(
    tmp_path: Path,
) -> None:
    home = Locations(tmp_path / "home").ensure()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen(
        [sys.executable, "-c", REPLYING, str(home.home)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "replying"
        db = Database(home.database)
        migrate(db)
        kb = KnowledgeBase(
            db, SlowEmbedder(per_text_s=0.002), ReplyGate(home.home / "replying.lock")
        )
        kb.add_folder(write_folder(tmp_path / "docs", docs=10))
        result: list[object] = []
        sweep = threading.Thread(target=lambda: result.append(kb.index()), daemon=True)
        sweep.start()
        time.sleep(2.0)
        assert sweep.is_alive() and kb.store.counts()["chunks"] == 0  # standing aside
        killed = time.monotonic()
        child.send_signal(signal.SIGKILL)
        sweep.join(timeout=30)
        assert not sweep.is_alive(), "the dead process still held indexing back"
        assert time.monotonic() - killed < 10
        (summary,) = result
        assert summary.indexed == 10 and summary.yielded_s >= 2.0  # type: ignore[attr-defined]
        consistent(kb)
        db.close()
    finally:
        child.kill()
        child.wait()
