"""Free disk space, checked before a download starts.

huggingface_hub only *warns* when space is short and the download then dies
with a full disk halfway through (leaving the disk full). We refuse up front
with the numbers. ``free_bytes`` is the one function the check calls, so
tests replace it to simulate a small disk.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from backend.modelhub.errors import NotEnoughDiskError

GIB = 1 << 30


def free_bytes(folder: Path) -> int:
    """Free bytes on the file system that holds ``folder`` (or its nearest existing parent)."""
    path = Path(folder).expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def human(n: float) -> str:
    """``1.5 GiB``-style size for messages."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def check_disk(needed: int, folder: Path) -> None:
    """Raise unless ``folder``'s disk has ``needed`` bytes free.

    Args:
        needed: bytes still to download.
        folder: where the files will be written.

    Raises:
        NotEnoughDiskError: with the needed and free byte counts in the message.
    """
    free = free_bytes(folder)
    if needed > free:
        raise NotEnoughDiskError(
            f"The download needs {human(needed)} ({needed:,} bytes) but {folder} has only "
            f"{human(free)} ({free:,} bytes) free. Free some space (assistant models rm ...) "
            "or pull into another folder.",
            needed=needed,
            free=free,
        )
