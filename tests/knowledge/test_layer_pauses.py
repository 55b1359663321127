"""Background torch work stands aside for a reply between layers
(``backend.common.layer_pauses``): inside one embedding batch, and inside
one training step's forward and backward passes; other threads (the
reply's own query embedding) never wait."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.common import layer_pauses
from backend.common.layer_pauses import standing_aside
from backend.common.reply_gate import ReplyGate
from backend.knowledge.embedder import Embedder

TEXTS = [f"Paragraph {i} about sockets, threads and the event loop. " * 12 for i in range(16)]


def test_a_real_minilm_batch_waits_for_a_reply_between_layers(
    tmp_path: Path, minilm: Embedder
) -> None:
    expected = minilm.embed(TEXTS)  # also warms the model
    gate = ReplyGate(tmp_path / "replying.lock")
    done = threading.Event()
    got: list[np.ndarray] = []
    waited: list[float] = []

    def index_batch() -> None:
        with standing_aside(lambda: waited.append(gate.wait_idle())):
            got.append(minilm.embed(TEXTS))
        done.set()

    with gate.reply():
        worker = threading.Thread(target=index_batch)
        worker.start()
        # the batch takes about half a second: held far longer than that, it
        # is still waiting, and a query embedded meanwhile (another thread,
        # as the reply's own retrieval is) does not wait
        started = time.monotonic()
        minilm.embed(["a question while the batch waits"])
        assert time.monotonic() - started < 5
        assert not done.wait(3.0)
    worker.join(timeout=60)
    assert done.is_set()
    assert sum(waited) > 2.0  # it stood aside inside the batch ...
    np.testing.assert_allclose(got[0], expected, atol=1e-5)  # ... and lost nothing


def test_outside_the_context_nothing_waits(tmp_path: Path, minilm: Embedder) -> None:
    gate = ReplyGate(tmp_path / "replying.lock")
    with gate.reply():
        started = time.monotonic()
        minilm.embed(TEXTS)
        assert time.monotonic() - started < 10


def test_training_waits_in_the_forward_and_in_the_backward_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(layer_pauses, "CHECK_EVERY_S", 0.0)
    layers = torch.nn.ModuleList([torch.nn.Linear(16, 16) for _ in range(4)])
    phase = {"now": "forward"}
    seen: list[str] = []
    with standing_aside(lambda: seen.append(phase["now"])):
        x = torch.randn(3, 16)
        for layer in layers:
            x = torch.tanh(layer(x))
        loss = x.pow(2).sum()
        phase["now"] = "backward"
        loss.backward()
    assert seen.count("forward") >= 4
    assert seen.count("backward") >= 4  # one per layer's gradient
    assert all(p.grad is not None for p in layers.parameters())  # training unchanged
    seen.clear()
    loss = layers[0](torch.randn(3, 16)).sum()
    loss.backward()
    assert seen == []  # left the context: no more waits
