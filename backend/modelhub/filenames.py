"""What a GGUF file name says: its quantization tag and its split part.

File names are never hard-coded in the catalog: the Hub's file listing is
read at download time and files are picked by their quantization tag, the way
people name them (``qwen2.5-1.5b-instruct-q4_k_m.gguf``,
``Qwen3-4B-Q4_K_M.gguf``, ``Qwen3-4B-UD-Q4_K_XL.gguf``,
``model.Q4_K_M.gguf``). Large models are split by llama.cpp's ``gguf-split``
into ``<prefix>-00001-of-00003.gguf`` ... parts (format
``%s-%05d-of-%05d.gguf``, the same in gguf-py's ``SHARD_NAME_FORMAT``);
llama.cpp loads a split model from its first part and finds the others next
to it by that pattern, so the parts must keep their names and folder.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from backend.modelfiles.gguf_split import split_part

# A quantization tag: llama.cpp's k-quants and legacy quants (Q4_K_M, Q8_0,
# Q4_1), i-quants (IQ4_XS), ternary (TQ1_0), MXFP4, and float formats; an
# optional unsloth "UD-" (dynamic) prefix.
_QUANT_TOKEN = re.compile(
    r"^(?:UD-)?(?:I?Q\d(?:_[0-9A-Z]+)*|TQ\d_\d|MXFP4(?:_[0-9A-Z]+)*|BF16|F16|FP16|F32)$",
    re.IGNORECASE,
)

# Files in GGUF repos that are not chat models.
_NOT_A_MODEL = re.compile(r"(^|[/_-])(mmproj|imatrix)|\.imatrix|-mmproj", re.IGNORECASE)


def model_stem(name: str) -> str:
    """The model's name without folder, split suffix and ``.gguf``."""
    base = PurePosixPath(name).name
    part = split_part(base)
    if part is not None:
        return part.prefix
    return base[:-5] if base.lower().endswith(".gguf") else base


def quant_of(name: str) -> str | None:
    """The quantization tag in a GGUF file name, upper-cased (``Q4_K_M``), or None.

    The tag is the last ``-``/``.``-separated token of the name's stem; an
    unsloth ``UD-`` prefix is kept (``UD-Q4_K_XL``).
    """
    stem = model_stem(name)
    tokens = re.split(r"[-.]", stem)
    if not tokens:
        return None
    last = tokens[-1]
    if len(tokens) >= 2 and tokens[-2].upper() == "UD":
        last = f"UD-{last}"
    return last.upper() if _QUANT_TOKEN.match(last) else None


def is_model_gguf(path: str) -> bool:
    """A ``.gguf`` file that is a model (not a vision projector or imatrix)."""
    return path.lower().endswith(".gguf") and not _NOT_A_MODEL.search(path)


def matches_quant(path: str, quant: str) -> bool:
    """Whether ``path``'s quantization tag is ``quant`` (case-insensitive, exact tag).

    ``Q4_K`` does not match ``Q4_K_M``, and ``Q4_K_M`` does not match
    ``IQ4_K_M`` or ``UD-Q4_K_M``.
    """
    found = quant_of(path)
    return found is not None and found == quant.upper()
