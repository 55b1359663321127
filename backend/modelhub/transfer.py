"""Fetching one file into a stable partial file, resuming where it stopped.

Why not ``hf_hub_download``: the installed huggingface_hub (2.x) downloads
into a *process-unique* temporary file (``<etag>.<random>.incomplete``, its
PR 4228) and deletes it on any error, so a download interrupted by a crash,
a SIGKILL or a closed laptop always restarts from byte zero. We use the
library's own pieces one level down instead: ``get_hf_file_metadata`` (the
HEAD call: size, ETag, the CDN redirect) and ``http_get`` (the streaming
GET with ``Range`` resume, its 5 in-call retries on connection errors, and
its ``tqdm_class`` progress hook), writing into a partial file whose name
depends only on the file's checksum. A later pull, in any process, appends
to it with a ``Range: bytes=<size>-`` request.

Around ``http_get`` we retry with exponential back-off (``RetryPolicy``):
its own retries only cover a few seconds of outage.

``http_get`` reads its chunks ``constants.DOWNLOAD_CHUNK_SIZE`` at a time
(10 MiB): progress and cancellation would only be seen every 10 MiB. We
lower that library-wide setting to 1 MiB (it is only read by ``http_get``).
"""

from __future__ import annotations

import errno
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
from huggingface_hub import errors as hf_errors
from huggingface_hub.file_download import http_get
from huggingface_hub.utils import build_hf_headers

from backend.modelhub.errors import (
    HubUnreachableError,
    ModelHubError,
    NotEnoughDiskError,
    PullCancelledError,
)
from backend.modelhub.hub import API_TIMEOUT_S, NETWORK_ERRORS, same_origin, translate
from backend.modelhub.plan import RemoteFile
from backend.modelhub.progress import ProgressMeter

CHUNK_SIZE = 1 << 20
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}  # no EDQUOT on Windows


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and how patiently, a failing transfer is resumed.

    ``attempts`` resumptions after the first try, waiting ``base_delay_s``,
    doubling up to ``max_delay_s``.
    """

    attempts: int = 5
    base_delay_s: float = 2.0
    max_delay_s: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before resumption number ``attempt`` (1-based)."""
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class Source:
    """Where one file comes from."""

    repo: str
    revision: str
    endpoint: str
    token: str | None


def _locate(source: Source, remote: RemoteFile) -> tuple[str, dict[str, str]]:
    """HEAD the file: its download URL (after a CDN redirect) and the headers to send."""
    url = hf_hub_url(source.repo, remote.path, revision=source.revision, endpoint=source.endpoint)
    with translate(f"{source.repo}/{remote.path}", source.endpoint, bool(source.token)):
        meta = get_hf_file_metadata(
            url, token=source.token, timeout=API_TIMEOUT_S, endpoint=source.endpoint
        )
    if meta.size is not None and meta.size != remote.size:
        raise ModelHubError(
            f"{source.repo}/{remote.path}: the Hub lists {remote.size:,} bytes but serves "
            f"{meta.size:,}; try again later."
        )
    headers = build_hf_headers(token=source.token)
    if not same_origin(url, meta.location):
        headers.pop("authorization", None)  # never send the token to a CDN
    return meta.location, headers


def fetch(
    source: Source,
    remote: RemoteFile,
    partial: Path,
    meter: ProgressMeter,
    *,
    retry: RetryPolicy | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Download ``remote`` into ``partial``, continuing whatever ``partial`` holds.

    Args:
        source: the repo, pinned revision, endpoint and token.
        remote: the file (its size bounds the partial file).
        partial: the stable partial-file path (created if missing).
        meter: progress reporting and the cancel check.
        retry: back-off for connection errors (default ``RetryPolicy()``).
        cancel: set to stop; the partial file is kept.

    Raises:
        PullCancelledError: cancelled (from the meter).
        HubUnreachableError: still failing after every retry.
        ModelNotFoundError, GatedRepoError, ModelHubError: the Hub refused.
    """
    retry = retry or RetryPolicy()
    constants.DOWNLOAD_CHUNK_SIZE = min(constants.DOWNLOAD_CHUNK_SIZE, CHUNK_SIZE)
    partial.parent.mkdir(parents=True, exist_ok=True)
    attempt = 0
    while True:
        meter.check_cancel()
        have = partial.stat().st_size if partial.exists() else 0
        if have > remote.size:  # not ours, or the file changed: start over
            partial.unlink()
            have = 0
        meter.set_done(have, remote.size)
        meter.emit()
        if have == remote.size:
            return
        try:
            url, headers = _locate(source, remote)
            with partial.open("ab") as fh:
                http_get(
                    url,
                    fh,
                    resume_size=have,
                    headers=headers,
                    expected_size=remote.size,
                    displayed_filename=remote.name,
                    tqdm_class=cast(Any, meter.tqdm_class()),
                )
            return
        except PullCancelledError:
            raise
        except hf_errors.HfHubHTTPError as err:
            status = err.response.status_code if err.response is not None else 0
            if status == 416:  # our partial file does not fit the server's: start over
                partial.unlink(missing_ok=True)
            elif status != 403 and status < 500 and status not in (408, 429):
                with translate(f"{source.repo}/{remote.path}", source.endpoint, bool(source.token)):
                    raise
            # 403 is also what an expired signed CDN URL answers: locate it again.
            failure: BaseException = err
        except OSError as err:
            if err.errno in _DISK_FULL:
                raise NotEnoughDiskError(
                    f"The disk filled up while downloading {remote.name} into {partial.parent}; "
                    "the partial file is kept. Free some space and pull again.",
                    needed=remote.size - have,
                    free=0,
                ) from None
            failure = err  # connection errors (ConnectionError is an OSError) and short reads
        except NETWORK_ERRORS as err:
            failure = err
        except HubUnreachableError as err:
            failure = err
        attempt += 1
        if attempt > retry.attempts:
            if isinstance(failure, HubUnreachableError):
                raise failure
            raise HubUnreachableError(
                f"Downloading {remote.name} from {source.endpoint} kept failing "
                f"({type(failure).__name__}: {failure}). The partial file is kept: pulling "
                "again resumes it."
            ) from None
        wait = retry.delay(attempt)
        if cancel is not None:
            cancel.wait(wait)
        else:
            time.sleep(wait)
