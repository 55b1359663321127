"""Before importing transformers, sentence-transformers, peft or
bitsandbytes: keep them local and quiet.

- No implicit Hub access: the assistant's models are local by contract
  (``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE``, ``HF_DATASETS_OFFLINE``);
  downloads the user asks for go through ``huggingface_hub`` with an
  explicit endpoint, in their own process.
- No chatter on stderr, which belongs to the CLI's own messages and would
  garble the TUI: no progress bars or info logs, and none of bitsandbytes'
  import-time warnings. sentence-transformers imports transformers' trainer,
  which imports peft, which imports bitsandbytes; on CPUs with AVX-512 BF16
  bitsandbytes then asks the optional ``kernels`` package for a CPU kernel
  from the Hub, and offline both warn ("Skipping publisher trust check ...",
  "Failed to load CPU gemm_4bit_forward ..."). bitsandbytes' own kernels run
  instead, so the warnings say nothing the user can act on.

Every setting is a default (``setdefault``): a user's explicit environment
wins.
"""

from __future__ import annotations

import logging
import os

_QUIET_LOGGERS = ("kernels", "bitsandbytes.backends.cpu.ops")


def hf_offline() -> None:
    """Apply the settings above (idempotent, cheap)."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(name, "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
