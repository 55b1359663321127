"""The model folders the library has pulled (embedders, rerankers).

A folder counts when its pull record (``.modelhub/pulled/<name>.json``,
written by ``folder.pull_folder`` just before the folder is moved into place)
says it is a folder kind and the folder is there: a folder the user copied in
by hand has no record and is not listed (point ``cross_encoder_dir`` or
``embedding_model_dir`` at it instead), and a record whose folder was deleted
by hand is ignored. Reading the records is a directory listing and a few
small JSON files, cheap enough to do on every question
(``backend.rag.rerank_auto`` does).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from backend.modelhub import layout
from backend.modelhub.catalog import Kind
from backend.modelhub.records import InstalledFolder

FOLDER_KINDS: tuple[Kind, ...] = ("embedder", "reranker")


def installed_folders(dests: Iterable[Path], kind: Kind | None = None) -> list[InstalledFolder]:
    """Pulled model folders in the models folders ``dests``, by name.

    Args:
        dests: models folders (the data folder's ``models/``, ``models_dir``);
            a missing one is skipped.
        kind: only this kind (``embedder`` or ``reranker``); default both.
    """
    found: dict[Path, InstalledFolder] = {}
    for dest in dests:
        records = layout.record_path(dest, "x").parent
        if not records.is_dir():
            continue
        for path in sorted(records.glob("*.json")):
            record = layout.read_record(dest, path.stem)
            if record is None or record.kind not in FOLDER_KINDS:
                continue
            if kind is not None and record.kind != kind:
                continue
            folder = dest / record.name
            if not folder.is_dir() or folder.resolve() in found:
                continue
            size = sum(int(f.get("size", 0)) for f in record.files)
            found[folder.resolve()] = InstalledFolder(
                name=record.name,
                kind=record.kind,
                path=folder,
                repo=record.repo,
                revision=record.revision,
                size_bytes=size,
            )
    return sorted(found.values(), key=lambda f: (f.kind, f.name))
