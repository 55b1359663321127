"""Checking a downloaded file against the checksum the Hub publishes.

huggingface_hub itself only checks a download's *size*. We hash every file
ourselves before it is used: LFS files (every GGUF and safetensors file) by
their SHA-256 from the Hub's LFS metadata; small git-stored files (configs,
tokenizers) by their git blob id, ``sha1(b"blob <size>\\0" + content)``.
A mismatch deletes the file, so a corrupt download is never offered and the
next pull starts that file afresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from backend.modelhub.errors import ChecksumMismatchError, ModelHubError
from backend.modelhub.plan import RemoteFile

CHUNK = 4 << 20


def file_digest(
    path: Path, algorithm: str, prefix: bytes = b"", tick: Callable[[], None] | None = None
) -> str:
    """Hex digest of ``prefix`` + the file's bytes.

    Args:
        path: the file.
        algorithm: a hashlib name (``sha256``, ``sha1``).
        prefix: bytes hashed before the content (the git blob header).
        tick: called after every 4 MiB (progress, cancellation).
    """
    digest = hashlib.new(algorithm)
    digest.update(prefix)
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            if tick is not None:
                tick()
    return digest.hexdigest()


def verify_file(path: Path, remote: RemoteFile, tick: Callable[[], None] | None = None) -> str:
    """Check ``path`` against ``remote``'s published checksum; delete it on mismatch.

    Args:
        path: the downloaded bytes (still under their temporary name).
        remote: the Hub's record of the file.
        tick: called while hashing (a cancel check may raise from it; the
            file is then kept for a later resume).

    Returns:
        The SHA-256 of the file (computed either way, for the pull record).

    Raises:
        ChecksumMismatchError: the checksum differs; the file has been deleted.
        ModelHubError: the Hub published no checksum for the file.
    """
    size = path.stat().st_size
    if size != remote.size:
        path.unlink(missing_ok=True)
        raise ChecksumMismatchError(
            f"{remote.name} is {size:,} bytes but the Hub lists {remote.size:,}; the file was "
            "deleted. Pull it again."
        )
    sha256 = file_digest(path, "sha256", tick=tick)
    if remote.sha256 is not None:
        expected, actual, kind = remote.sha256, sha256, "SHA-256"
    elif remote.blob_id is not None:
        expected = remote.blob_id
        actual = file_digest(path, "sha1", prefix=f"blob {size}\0".encode(), tick=tick)
        kind = "git blob SHA-1"
    else:
        raise ModelHubError(f"The Hub publishes no checksum for {remote.path}; it was not used.")
    if actual != expected.lower():
        path.unlink(missing_ok=True)
        raise ChecksumMismatchError(
            f"{remote.name} failed its {kind} checksum: expected {expected}, got {actual}. "
            "The corrupt file was deleted and nothing was registered; pull it again."
        )
    return sha256
