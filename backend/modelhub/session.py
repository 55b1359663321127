"""What every pull shares: its settings, its lock, and fetching one verified file.

``download.pull_gguf`` (GGUF chat models) and ``folder.pull_folder``
(sentence-transformers folders) differ in what they register; both open a
``PullSession`` (offline check, destination folder, endpoint read now, token,
progress meter), take the model's lock (``exclusive``: a second pull of the
same model, in any process, is refused instead of appending to the same
partial file; the lock dies with its process), check access and disk, and
fetch each file with ``fetch_verified`` (resumable download, then checksum).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout
from huggingface_hub import get_token

from backend.common.locations import Locations, default_locations
from backend.modelhub import layout
from backend.modelhub.errors import GatedRepoError, PullInProgressError
from backend.modelhub.hub import ensure_online, gated_message, hub_endpoint, hub_token
from backend.modelhub.plan import PullPlan, RemoteFile
from backend.modelhub.progress import ProgressCallback, ProgressMeter
from backend.modelhub.transfer import RetryPolicy, Source, fetch
from backend.modelhub.verify import verify_file


@dataclass(frozen=True)
class PullSession:
    """One pull's settings, resolved once."""

    dest: Path
    source_endpoint: str
    token: str | None
    meter: ProgressMeter
    retry: RetryPolicy | None
    cancel: threading.Event | None


def open_session(
    locations: Locations | None,
    dest: Path | None,
    endpoint: str | None,
    token: str | None,
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
    retry: RetryPolicy | None,
) -> PullSession:
    """Resolve a pull's settings (arguments as ``download.pull_gguf``).

    Returns:
        The session; the destination folder exists.

    Raises:
        HubUnreachableError: huggingface_hub is in offline mode in this process.
    """
    ensure_online()
    locations = locations or default_locations()
    folder = Path(dest).expanduser() if dest is not None else locations.models
    folder.mkdir(parents=True, exist_ok=True)
    return PullSession(
        dest=folder,
        source_endpoint=hub_endpoint(endpoint),
        token=token or hub_token(locations) or get_token(),
        meter=ProgressMeter(on_progress, cancel),
        retry=retry,
        cancel=cancel,
    )


def check_access(plan: PullPlan, ctx: PullSession) -> None:
    """Refuse a gated repo up front when there is no token to send.

    Raises:
        GatedRepoError: ``plan`` is gated and the session has no token.
    """
    if plan.gated and not ctx.token:
        raise GatedRepoError(gated_message(plan.repo, has_token=False))


@contextmanager
def exclusive(dest: Path, name: str) -> Iterator[None]:
    """Hold the pull lock of model ``name`` in ``dest`` (released if the process dies).

    Two pulls appending to one partial file would corrupt it; the second is
    refused at once rather than left waiting silently.
    """
    path = dest / layout.HIDDEN / "locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise PullInProgressError(
            f"{name} is already being downloaded into {dest} by another pull; wait for it "
            "to finish or cancel it."
        ) from None
    try:
        yield
    finally:
        lock.release()


def still_needed(files: list[tuple[RemoteFile, Path]]) -> int:
    """Bytes left to download: sizes minus what the partial files already hold."""
    needed = 0
    for remote, partial in files:
        have = partial.stat().st_size if partial.exists() else 0
        needed += max(0, remote.size - have) if have <= remote.size else remote.size
    return needed


def fetch_verified(
    ctx: PullSession, plan: PullPlan, remote: RemoteFile, partial: Path, part: int, parts: int
) -> str:
    """Fetch ``remote`` into ``partial`` and verify it; returns its SHA-256."""
    have = partial.stat().st_size if partial.exists() else 0
    ctx.meter.start_file(remote.name, min(have, remote.size), remote.size, part, parts)
    source = Source(plan.repo, plan.revision, ctx.source_endpoint, ctx.token)
    fetch(source, remote, partial, ctx.meter, retry=ctx.retry, cancel=ctx.cancel)
    ctx.meter.emit("verifying")
    return verify_file(partial, remote, tick=ctx.meter.check_cancel)
