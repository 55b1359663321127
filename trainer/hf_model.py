"""The trainable (Hugging Face) form of a GGUF chat model.

We train on the very file the chat runtime serves: transformers reads the
GGUF, dequantizes it (Q4_1 included) to float32 and undoes llama.cpp's
rotary permutation of q/k, so no second download and no drift between what
is tuned and what is served. The adapter is later exported against the same
GGUF (``trainer.export_gguf``), which is why the architecture facts that
export needs (head counts for the q/k permutation) are read here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend.adapter_check import BaseModelFacts, read_base_facts
from backend.errors import ModelError

__all__ = ["BaseModelFacts", "load_hf_model", "read_base_facts"]


def load_hf_model(path: Path) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a GGUF file, float32 on the CPU, in eval mode.

    Raises:
        ModelError: transformers cannot load this GGUF (unknown architecture,
            unsupported quantization, damaged file).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
    except Exception as err:
        raise ModelError(f"cannot load {path.name} for training: {err}") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return model, tokenizer
