"""Pulling a model from the Hugging Face Hub into a models folder.

The sequence, for a GGUF chat model (``pull_gguf``):

1. list the repo once (``plan.list_repo``): commit, gated flag, every file's
   size and checksum; pick the quantization's file(s), all parts of a split;
2. refuse a gated repo without a token, and a disk without room (bytes still
   to fetch, partial files counted as fetched);
3. fetch each part into its stable partial file under ``.modelhub/partial/``
   (``transfer.fetch``: resumes, retries with back-off, progress, cancel);
4. verify each part's SHA-256 against the Hub's LFS checksum (a mismatch
   deletes the part and raises ``ChecksumMismatchError``);
5. check each part's GGUF header (``validate_gguf``) and that a split's
   ``split.count`` matches the parts downloaded;
6. register: write the pull record, then ``os.replace`` parts 2..n and the
   first part last into the models folder under their Hub names. Only then
   does ``backend.modelfiles.catalog.discover_models`` see the model.

Cancel (a ``threading.Event``) or a crash at any step before 6 leaves the
models folder untouched; the partial files stay in ``.modelhub/partial/``
(kept on purpose: the next pull of the same file resumes them; ``remove.
clear_partials`` deletes them). Sentence-transformers models (embedders,
rerankers: ``folder.pull_folder``) follow the same steps per file and
register by moving their assembled folder into place; ``pull`` picks either
from a catalog short name or a repo id.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from backend.common.errors import ModelError
from backend.common.locations import Locations
from backend.modelfiles.gguf_header import validate_gguf
from backend.modelhub import disk, layout
from backend.modelhub.catalog import Catalog, Kind, load_catalog
from backend.modelhub.errors import FileConflictError, ModelNotFoundError, UnusableModelError
from backend.modelhub.folder import pull_folder
from backend.modelhub.plan import PullPlan, RemoteFile, choose_gguf, list_repo
from backend.modelhub.progress import ProgressCallback
from backend.modelhub.records import PullResult
from backend.modelhub.session import (
    PullSession,
    check_access,
    exclusive,
    fetch_verified,
    open_session,
    still_needed,
)
from backend.modelhub.transfer import RetryPolicy
from backend.modelhub.verify import file_digest


def _existing_matches(final: Path, remote: RemoteFile, recorded: dict[str, str]) -> bool:
    """Whether ``final`` already holds ``remote``'s bytes (record first, hash if unsure)."""
    if not final.is_file() or final.stat().st_size != remote.size:
        return False
    if remote.sha256 is None:
        return False
    if recorded.get(final.name) == remote.sha256:
        return True
    return file_digest(final, "sha256") == remote.sha256


def pull_gguf(
    repo: str,
    *,
    quant: str | None = None,
    filename: str | None = None,
    revision: str | None = None,
    locations: Locations | None = None,
    dest: Path | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    retry: RetryPolicy | None = None,
) -> PullResult:
    """Download, verify and register one GGUF model from a Hub repo.

    Args:
        repo: ``owner/name`` of a GGUF repository.
        quant: the quantization tag to pick (``Q4_K_M``); see ``plan.choose_gguf``.
        filename: an exact file in the repo instead of ``quant``.
        revision: branch, tag or commit (default: main).
        locations: the data folder (default: ``default_locations()``).
        dest: the folder to register into (default: ``locations.models``).
        on_progress: called with a ``PullProgress`` for every chunk.
        cancel: set it (from any thread) to stop; nothing is registered.
        token: a Hugging Face token (default: ``hub.hub_token``, then a
            token saved by ``hf auth login``).
        endpoint: the Hub URL (default: ``$HF_ENDPOINT`` read now).
        retry: back-off policy for connection errors.

    Returns:
        The registered model; ``path`` is the file to load (first part).

    Raises:
        ModelNotFoundError, QuantNotFoundError: no such repo or quantization.
        GatedRepoError: the repo needs a token.
        NotEnoughDiskError: less free space than the download needs.
        HubUnreachableError: no network, the Hub down, or offline mode.
        ChecksumMismatchError: a file's SHA-256 differs (the file was deleted).
        UnusableModelError: the verified file is not a valid GGUF.
        FileConflictError: a different file with the same name is registered.
        PullCancelledError: ``cancel`` was set.
    """
    ctx = open_session(locations, dest, endpoint, token, on_progress, cancel, retry)
    listing = list_repo(repo, revision=revision, endpoint=ctx.source_endpoint, token=ctx.token)
    plan = choose_gguf(listing, quant, filename)
    record_name = plan.files[0].name
    with exclusive(ctx.dest, record_name):
        finals = [ctx.dest / f.name for f in plan.files]
        record = layout.read_record(ctx.dest, record_name)
        recorded = {f["path"]: f["sha256"] for f in record.files} if record else {}
        present = [
            _existing_matches(p, f, recorded) for p, f in zip(finals, plan.files, strict=True)
        ]
        if all(present):
            return _result(plan, finals, "chat", 0, already=True)
        for final, ok in zip(finals, present, strict=True):
            if final.exists() and not ok:
                raise FileConflictError(
                    f"{final} already exists and is not {plan.repo}'s {final.name}; remove it "
                    "first (assistant models rm) or pull into another folder."
                )
        check_access(plan, ctx)
        # Parts already in place (a pull killed between its final moves) stay.
        partials = [
            final if ok else layout.partial_file(ctx.dest, f)
            for f, final, ok in zip(plan.files, finals, present, strict=True)
        ]
        missing = [(f, p) for f, p, ok in zip(plan.files, partials, present, strict=True) if not ok]
        disk.check_disk(still_needed(missing), ctx.dest)

        digests: list[str] = []
        for i, (remote, partial, ok) in enumerate(zip(plan.files, partials, present, strict=True)):
            if ok:
                digests.append(remote.sha256 or "")
                continue
            digests.append(fetch_verified(ctx, plan, remote, partial, i + 1, len(plan.files)))
        _check_gguf(plan, partials)

        _register_gguf(ctx, plan, partials, finals, digests)
        return _result(plan, finals, "chat", ctx.meter.transferred)


def _register_gguf(
    ctx: PullSession, plan: PullPlan, partials: list[Path], finals: list[Path], digests: list[str]
) -> None:
    """Write the pull record, then move the parts into place, the first part last."""
    ctx.meter.check_cancel()
    files = [
        {"path": f.name, "size": f.size, "sha256": d}
        for f, d in zip(plan.files, digests, strict=True)
    ]
    record = layout.PullRecord(finals[0].name, "chat", plan.repo, plan.revision, plan.quant, files)
    layout.write_record(ctx.dest, record)
    # The model appears (to discover_models) only once every part is in place.
    for partial, final in reversed(list(zip(partials, finals, strict=True))):
        if partial != final:
            os.replace(partial, final)
    ctx.meter.emit("done")


def _check_gguf(plan: PullPlan, paths: list[Path]) -> None:
    """Header-check every part; a split's first part must announce all parts."""
    for remote, partial in zip(plan.files, paths, strict=True):
        try:
            info = validate_gguf(partial)
        except ModelError as err:
            partial.unlink(missing_ok=True)
            raise UnusableModelError(
                f"{plan.repo}/{remote.path} downloaded intact (its checksum matches) but is not "
                f"a usable GGUF file: {err}"
            ) from None
        if remote is plan.files[0] and len(plan.files) > 1:
            count = info.metadata.get("split.count")
            if isinstance(count, int) and count != len(plan.files):
                raise UnusableModelError(
                    f"{plan.repo}/{remote.path} says the model has {count} parts but "
                    f"{len(plan.files)} were found in the repository."
                )


def _result(
    plan: PullPlan, finals: list[Path], kind: Kind, transferred: int, already: bool = False
) -> PullResult:
    return PullResult(
        path=finals[0],
        files=tuple(finals),
        repo=plan.repo,
        revision=plan.revision,
        quant=plan.quant,
        kind=kind,
        total_bytes=plan.total_bytes,
        downloaded_bytes=transferred,
        already_present=already,
    )


def pull(
    spec: str,
    *,
    quant: str | None = None,
    filename: str | None = None,
    kind: Kind | None = None,
    revision: str | None = None,
    locations: Locations | None = None,
    dest: Path | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    retry: RetryPolicy | None = None,
    catalog: Catalog | None = None,
) -> PullResult:
    """Pull a catalog model by short name, or any Hub repo by ``owner/name``.

    A catalog entry supplies the repo, the kind and the default quantization;
    a repo that is not in the catalog is taken as a GGUF chat repo unless
    ``kind`` says otherwise. Everything else is ``pull_gguf``/``pull_folder``.

    Args:
        spec: a short name (``qwen2.5-1.5b``) or a repo id (``Qwen/Qwen2.5-1.5B-Instruct-GGUF``).
        quant: the quantization (default: the entry's ``default_quant``).
        kind: ``chat`` (GGUF), ``embedder`` or ``reranker`` (a folder).

    Returns:
        The registered model.

    Raises:
        ModelNotFoundError: ``spec`` is neither a catalog name nor a repo id.
        The errors of ``pull_gguf``.
    """
    catalog = catalog or load_catalog()
    entry = catalog.get(spec) or catalog.by_repo(spec)
    if entry is None and "/" not in spec:
        names = ", ".join(e.name for e in catalog.entries)
        raise ModelNotFoundError(
            f"{spec!r} is not in the model catalog ({names}) and is not a Hub repository "
            "id (owner/name)."
        )
    repo = entry.repo if entry else spec
    kind = kind or (entry.kind if entry else "chat")
    if kind == "chat":
        if quant is None and filename is None and entry is not None:
            quant = entry.default_quant or entry.quants[0].name
        return pull_gguf(
            repo, quant=quant, filename=filename, revision=revision, locations=locations,
            dest=dest, on_progress=on_progress, cancel=cancel, token=token, endpoint=endpoint,
            retry=retry,
        )  # fmt: skip
    return pull_folder(
        repo, name=entry.name if entry else None, kind=kind, revision=revision,
        locations=locations, dest=dest, on_progress=on_progress, cancel=cancel, token=token,
        endpoint=endpoint, retry=retry,
    )  # fmt: skip


__all__ = ["PullResult", "RetryPolicy", "pull", "pull_folder", "pull_gguf"]
