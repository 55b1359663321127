"""How many cores the machine has, for thread counts (llama.cpp, tune-ups).

Physical cores, not logical ones: decoding and training are memory- and
FPU-bound and gain nothing from hyper-threads."""

from __future__ import annotations

import os


def physical_cores() -> int:
    """Physical CPU cores (llama-cpp-python's own default halves the logical
    count, which under-uses machines without SMT)."""
    try:
        import psutil

        count = psutil.cpu_count(logical=False)
    except Exception:
        count = None
    return max(1, count or os.cpu_count() or 1)


def background_threads() -> int:
    """Threads for background work beside a chat: the cores minus one, so a
    reply always has a core that nothing of ours spins on."""
    return max(1, physical_cores() - 1)
