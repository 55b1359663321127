"""Keeps the past-chats index current, in the background.

``schedule()`` is called after every finished reply (and once at start-up
for anything left over); it only wakes a daemon thread, so a reply never
waits on indexing. The thread embeds pending messages in small batches and,
like the folder indexer, stands aside while any reply is being generated
(``ReplyGate``, this process or another on the same data folder) before
each batch and between the embedder's layers within one
(``layer_pauses``): embedding competes with decoding for the same few cores.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from backend.common.layer_pauses import standing_aside
from backend.common.reply_gate import ReplyGate
from backend.knowledge.chats_index import ChatIndexStore, passages
from backend.knowledge.embedder import Embedder
from backend.store.records import ChatHit

BATCH_MESSAGES = 16


QUIET_S = 2.0
"""How long no reply must have run before past turns are indexed."""


class ChatIndexer:
    """See the module docstring. ``embedder`` is called when first needed
    (the knowledge base's lazily loaded model)."""

    def __init__(
        self,
        store: ChatIndexStore,
        embedder: Callable[[], Embedder],
        gate: ReplyGate | None = None,
    ) -> None:
        self.store = store
        self._embedder = embedder
        self.gate = gate
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.error: str | None = None
        """The last failure (the thread keeps going; search then has fewer hits)."""

    def schedule(self) -> None:
        """Index whatever is pending, soon, in the background."""
        if self._stop.is_set():
            return
        with self._idle:
            self._busy = True
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="chat-indexer", daemon=True)
                self._thread.start()
        self._wake.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until everything scheduled so far is indexed; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._busy, timeout)

    def search(
        self,
        query: str,
        k: int = 5,
        *,
        exclude_conversation_id: int | None = None,
        include_through: int | None = None,
    ) -> list[ChatHit]:
        """``ChatIndexStore.search`` with the index's embedder (keywords
        only until something was embedded: no model load for nothing)."""
        embedder = self._embedder() if self.store.model() is not None else None
        return self.store.search(
            embedder,
            query,
            k,
            exclude_conversation_id=exclude_conversation_id,
            include_through=include_through,
        )

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                break
            self._quiet()
            try:
                self.sync()
                self.error = None
            except Exception as err:  # never kill the thread: try again next time
                self.error = f"{type(err).__name__}: {err}"
            with self._idle:
                if not self._wake.is_set():
                    self._busy = False
                    self._idle.notify_all()
        with self._idle:
            self._busy = False
            self._idle.notify_all()

    def _quiet(self) -> None:
        """Wait until no reply has run for ``QUIET_S``: the user is reading
        or typing. A turn is indexed in that pause, not as the next reply
        starts (where loading MiniLM or a batch of embeddings would take the
        cores from it and mislead llama.cpp's thread choice)."""
        if self.gate is not None:
            self.gate.wait_quiet(QUIET_S, self._stop)

    def _stand_aside(self) -> None:
        if self.gate is not None:
            self.gate.wait_idle(self._stop)

    def sync(self) -> int:
        """Index every pending message now (in this thread); returns how many."""
        if not self.store.pending(1):
            return 0  # nothing to do: do not load the embedding model for it
        embedder = self._embedder()
        self.store.ensure_vectors(embedder.name, embedder.dim)
        done = 0
        while not self._stop.is_set():
            if self.gate is not None:
                self.gate.wait_idle(self._stop)
            batch = self.store.pending(BATCH_MESSAGES)
            if not batch:
                break
            pieces = [passages(m.text) for m in batch]
            flat = [p for ps in pieces for p in ps]
            with standing_aside(self._stand_aside):
                vectors = embedder.embed(flat) if flat else np.zeros((0, embedder.dim), np.float32)
            at = 0
            for message, texts in zip(batch, pieces, strict=True):
                self.store.write(message, texts, vectors[at : at + len(texts)])
                at += len(texts)
                done += 1
        return done
