"""Pulling a sentence-transformers model folder (an embedder or a reranker).

The files of the repo (minus alternative weight formats, ``plan.choose_folder``)
are fetched and verified one by one into a staging folder named after the
pinned commit, ``.modelhub/partial/<name>-<commit>/`` (a file there without
``.part`` has been verified, so an interrupted pull skips it), and the folder
is registered by one ``os.replace`` to ``<models>/<name>``. Point ``[knowledge]
embedding_model_dir`` or ``[rag] cross_encoder_dir`` at it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from backend.common.locations import Locations
from backend.modelhub import disk, layout
from backend.modelhub.catalog import Kind
from backend.modelhub.errors import FileConflictError
from backend.modelhub.plan import choose_folder, list_repo
from backend.modelhub.progress import ProgressCallback
from backend.modelhub.records import PullResult
from backend.modelhub.session import (
    check_access,
    exclusive,
    fetch_verified,
    open_session,
    still_needed,
)
from backend.modelhub.transfer import RetryPolicy
from backend.modelhub.verify import file_digest


def pull_folder(
    repo: str,
    *,
    name: str | None = None,
    kind: Kind = "embedder",
    revision: str | None = None,
    locations: Locations | None = None,
    dest: Path | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    retry: RetryPolicy | None = None,
) -> PullResult:
    """Download, verify and register a sentence-transformers model folder.

    The folder lands at ``<dest>/<name>``; point ``[knowledge]
    embedding_model_dir`` (embedders) or ``[rag] cross_encoder_dir``
    (rerankers) at it. Arguments, errors and cancellation as ``pull_gguf``.

    Args:
        repo: ``owner/name`` of a sentence-transformers repository.
        name: the folder name (default: the repo's name).
        kind: ``embedder`` or ``reranker`` (recorded, not interpreted).

    Returns:
        The registered folder (``path``) and its files.

    Raises:
        As ``pull_gguf`` (but no ``UnusableModelError``: folders are not
        header-checked); ``ModelHubError`` when the repo has no weights.
    """
    ctx = open_session(locations, dest, endpoint, token, on_progress, cancel, retry)
    listing = list_repo(repo, revision=revision, endpoint=ctx.source_endpoint, token=ctx.token)
    plan = choose_folder(listing)
    folder_name = name or repo.split("/")[-1]
    with exclusive(ctx.dest, folder_name):
        final = ctx.dest / folder_name
        finals = [final / f.path for f in plan.files]
        if final.exists():
            record = layout.read_record(ctx.dest, folder_name)
            if record is not None and record.repo == repo and record.revision == plan.revision:
                return PullResult(final, tuple(finals), repo, plan.revision, None, kind,
                                  plan.total_bytes, 0, already_present=True)  # fmt: skip
            raise FileConflictError(
                f"{final} already exists; remove it first (assistant models rm {folder_name}) "
                "or choose another name."
            )
        check_access(plan, ctx)
        staging = layout.partial_dir(ctx.dest) / f"{folder_name}-{plan.revision[:12]}"
        todo = [
            (f, staging / (f.path + ".part"))
            for f in plan.files
            if not (staging / f.path).is_file()
        ]
        disk.check_disk(still_needed(todo), ctx.dest)

        digests: dict[str, str] = {}
        for i, remote in enumerate(plan.files, start=1):
            target = staging / remote.path
            if target.is_file():  # verified in an earlier, interrupted pull
                digests[remote.path] = file_digest(target, "sha256")
                continue
            partial = target.with_name(target.name + ".part")
            digests[remote.path] = fetch_verified(ctx, plan, remote, partial, i, len(plan.files))
            os.replace(partial, target)

        ctx.meter.check_cancel()
        layout.write_record(
            ctx.dest,
            layout.PullRecord(
                name=folder_name,
                kind=kind,
                repo=repo,
                revision=plan.revision,
                quant=None,
                files=[
                    {"path": p, "size": (staging / p).stat().st_size, "sha256": d}
                    for p, d in digests.items()
                ],
            ),
        )
        os.replace(staging, final)
        ctx.meter.emit("done")
        return PullResult(final, tuple(finals), repo, plan.revision, None, kind,
                          plan.total_bytes, ctx.meter.transferred)  # fmt: skip
