"""Where the benchmarks find their inputs, in one place and never as a
machine-specific path:

- ``CORPUS``: Debian's Python 3.11 HTML docs (``make corpus`` installs the
  ``python3.11-doc`` package there), or ``$ASSISTANT_BENCH_CORPUS``;
- ``EVAL_DIR``: the shared dev question sets, ``shared/eval`` beside this
  checkout, or ``$ASSISTANT_BENCH_EVAL``;
- ``FROZEN``: our own held-out set (``benchmarks/questions``).

A prebuilt index is always passed explicitly (``--home``/``--db``).
"""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = Path(os.environ.get("ASSISTANT_BENCH_CORPUS", "/usr/share/doc/python3.11/html"))
EVAL_DIR = Path(os.environ.get("ASSISTANT_BENCH_EVAL", HERE.parent.parent / "shared" / "eval"))
DEV = EVAL_DIR / "pydocs_dev.jsonl"
FACTS_DEV = EVAL_DIR / "pydocs_facts_dev.jsonl"
FROZEN = HERE / "questions" / "pydocs_facts_frozen.jsonl"
