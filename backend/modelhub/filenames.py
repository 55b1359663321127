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
from dataclasses import dataclass
from pathlib import PurePosixPath

SPLIT_RE = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)

# A quantization tag: llama.cpp's k-quants and legacy quants (Q4_K_M, Q8_0,
# Q4_1), i-quants (IQ4_XS), ternary (TQ1_0), MXFP4, and float formats; an
# optional unsloth "UD-" (dynamic) prefix.
_QUANT_TOKEN = re.compile(
    r"^(?:UD-)?(?:I?Q\d(?:_[0-9A-Z]+)*|TQ\d_\d|MXFP4(?:_[0-9A-Z]+)*|BF16|F16|FP16|F32)$",
    re.IGNORECASE,
)

# Files in GGUF repos that are not chat models.
_NOT_A_MODEL = re.compile(r"(^|[/_-])(mmproj|imatrix)|\.imatrix|-mmproj", re.IGNORECASE)


@dataclass(frozen=True)
class SplitPart:
    """A split GGUF part: ``prefix`` is the name before ``-0000k-of-0000n.gguf``."""

    prefix: str
    number: int
    count: int


def split_part(name: str) -> SplitPart | None:
    """Parse a ``<prefix>-00001-of-00002.gguf`` name.

    Args:
        name: a file name or a path (only its last component is read).

    Returns:
        The part, or None when the name is not a split part.
    """
    match = SPLIT_RE.match(PurePosixPath(name).name)
    if match is None:
        return None
    number, count = int(match["no"]), int(match["count"])
    if not 1 <= number <= count:
        return None
    return SplitPart(match["prefix"], number, count)


def split_name(prefix: str, number: int, count: int) -> str:
    """The file name gguf-split gives part ``number`` of ``count``."""
    return f"{prefix}-{number:05d}-of-{count:05d}.gguf"


def is_secondary_split(name: str) -> bool:
    """True for parts 2..n of a split GGUF: not models of their own.

    ``backend.modelfiles.catalog.discover_models`` lists every ``*.gguf``; a front end
    should hide these (llama.cpp loads the model from part 1).
    """
    part = split_part(name)
    return part is not None and part.number > 1


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
