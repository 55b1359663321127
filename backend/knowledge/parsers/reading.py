"""Reading a file's bytes with every failure turned into a user-facing reason.

Watched folders change under us (editors save by rename, users delete files
mid-index), so each OS error maps to a ``ParseError`` whose message says what
happened, and the indexer records it instead of crashing.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from backend.knowledge.parsers.base import ParseError


def _limit_message(max_bytes: int) -> str:
    return f"larger than the {max_bytes / 1_000_000:g} MB limit"


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "cannot read: permission denied"
    if exc.errno == errno.ELOOP:
        return "cannot read: symlink loop"
    if isinstance(exc, IsADirectoryError):
        return "cannot read: is a directory"
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    return f"cannot read: {exc.strerror or exc}"


def read_file_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, or ``ParseError`` (empty, too large, unreadable...)."""
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise ParseError(_os_reason(exc)) from exc
    if size > max_bytes:
        raise ParseError(_limit_message(max_bytes))
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError as exc:
        # It existed a moment ago: deleted or renamed between stat and read.
        raise ParseError("file disappeared while reading") from exc
    except OSError as exc:
        if exc.errno == errno.ESTALE:
            raise ParseError("file disappeared while reading") from exc
        raise ParseError(_os_reason(exc)) from exc
    if len(data) > max_bytes:
        raise ParseError(_limit_message(max_bytes))
    if not data:
        if size and not os.path.exists(path):
            raise ParseError("file disappeared while reading")
        raise ParseError("empty file")
    return data
