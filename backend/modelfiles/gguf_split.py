"""Split GGUF files: llama.cpp's ``gguf-split`` writes a large model as
``<prefix>-00001-of-00003.gguf`` ... parts (format ``%s-%05d-of-%05d.gguf``,
the same in gguf-py's ``SHARD_NAME_FORMAT``). llama.cpp loads a split model
from its first part and finds the others next to it by that pattern, so the
catalog lists only part 1 and the parts must keep their names and folder."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

SPLIT_RE = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


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

    ``backend.modelfiles.catalog.discover_models`` leaves them out
    (llama.cpp loads the model from part 1).
    """
    part = split_part(name)
    return part is not None and part.number > 1
