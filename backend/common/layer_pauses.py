"""Background torch work stands aside for a reply between layers, not only
between batches or steps.

Indexing checks for a reply (``ReplyGate``) before each embedding call and
a tune-up between training steps, but one call (64 or more chunks) or step
is a second or more of both cores here, and a 128-token reply takes under
two: a reply that starts while one is under way loses most of its speed to
it (measured: 45-59 tok/s instead of 85 beside an indexer, 20-27 beside a
tune-up). Smaller calls would cost throughput (MiniLM on 2 cores: 15
chunks/s at batch 32, 9 at batch 8; slicing the indexer's calls into 32s
cost 30 %), so instead the wait happens *inside* the call: torch calls a
hook before every module's forward, and, for
tensors that will be differentiated, when their gradient is computed in
the backward pass. While a thread is inside ``standing_aside(wait)``, those
hooks call ``wait`` (at most every ``CHECK_EVERY_S``), which blocks while a
reply runs. Other threads -- the reply's own query embedding, a reranker
-- never wait: the hooks do nothing for them.

The hooks are torch's global module hooks, registered once per process
when torch is already loaded (this module never imports torch itself, so a
llama.cpp-only process pays nothing). They cost a thread-local lookup per
module call when no thread stands aside. CPU backward passes run on the
calling thread, so its gradient hooks see the same thread-local. Measured
on a training step of MiniLM (16 texts, forward and backward, 2 cores,
3 alternating runs of 10 steps): 0.280-0.287 s plain, 0.274-0.289 s
standing aside with a wait that finds no reply (within noise).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

CHECK_EVERY_S = 0.01
"""At most one check of the gate per this many seconds per thread (a check
is a few system calls; a 30-layer model's forward calls hundreds of modules)."""

_local = threading.local()
_installed = False
_install_lock = threading.Lock()


@contextlib.contextmanager
def standing_aside(wait: Callable[[], object]) -> Iterator[None]:
    """While inside, this thread's torch modules call ``wait`` between layers
    (forward) and between gradients (backward)."""
    install()
    previous = getattr(_local, "wait", None)
    _local.wait, _local.last = wait, 0.0
    try:
        yield
    finally:
        _local.wait = previous


def install() -> bool:
    """Register the global hooks if torch is loaded; whether they are."""
    global _installed
    if _installed:
        return True
    if "torch" not in sys.modules:
        return False
    with _install_lock:
        if not _installed:
            from torch.nn.modules import module

            module.register_module_forward_pre_hook(_before_forward)
            module.register_module_forward_hook(_after_forward)
            _installed = True
    return True


def _due() -> Callable[[], object] | None:
    wait = getattr(_local, "wait", None)
    if wait is None:
        return None
    now = time.monotonic()
    if now - _local.last < CHECK_EVERY_S:
        return None
    _local.last = now
    return wait


def _before_forward(module: Any, args: Any) -> None:
    wait = _due()
    if wait is not None:
        wait()


def _after_forward(module: Any, args: Any, output: Any) -> None:
    if getattr(_local, "wait", None) is None:
        return
    tensor = output[0] if isinstance(output, tuple) and output else output
    if getattr(tensor, "requires_grad", False) and getattr(tensor, "grad_fn", None) is not None:
        tensor.register_hook(_during_backward)


def _during_backward(grad: Any) -> None:
    wait = _due()
    if wait is not None:
        wait()
