"""The trainable (Hugging Face) form of a GGUF chat model.

We train on the very file the chat runtime serves: transformers reads the
GGUF, dequantizes it (Q4_1 included) to float32 and undoes llama.cpp's
rotary permutation of q/k, so no second download and no drift between what
is tuned and what is served. The adapter is later exported against the same
GGUF (``trainer.export_gguf``), which is why the architecture facts that
export needs (head counts for the q/k permutation) are read here too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf

from backend.errors import ModelError


@dataclass(frozen=True)
class BaseModelFacts:
    path: Path
    architecture: str
    n_head: int
    n_head_kv: int
    tensor_shapes: dict[str, tuple[int, ...]]
    """GGUF tensor name -> shape in GGUF's order (ne: innermost dim first)."""


def read_base_facts(path: Path) -> BaseModelFacts:
    """Architecture, head counts and tensor shapes from a GGUF header
    (remembered per file version: parsing the header takes seconds).

    Raises:
        ModelError: the file is not a readable GGUF model.
    """
    try:
        st = path.stat()
    except OSError as err:
        raise ModelError(f"cannot read {path}: {err}") from None
    return _read_base_facts(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _read_base_facts(path: Path, mtime_ns: int, size: int) -> BaseModelFacts:
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as err:
        raise ModelError(f"cannot read {path} as GGUF: {err}") from None

    def field(name: str) -> Any:
        f = reader.fields.get(name)
        if f is None:
            raise ModelError(f"{path} has no {name}")
        return f.contents()

    arch = str(field("general.architecture"))
    n_head = int(field(f"{arch}.attention.head_count"))
    kv = reader.fields.get(f"{arch}.attention.head_count_kv")
    shapes = {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}
    return BaseModelFacts(
        path=path,
        architecture=arch,
        n_head=n_head,
        n_head_kv=int(kv.contents()) if kv is not None else n_head,
        tensor_shapes=shapes,
    )


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
