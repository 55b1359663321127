"""Where the model manager keeps its own files inside a models folder.

Everything not yet a model lives under the hidden ``.modelhub/`` folder, so
``backend.modelfiles.catalog.discover_models`` (which lists ``models/*.gguf``) never sees
a partial or unverified file:

- ``.modelhub/partial/<checksum>-<name>.part``: a GGUF file being downloaded,
  named by its checksum so any later pull of the same bytes resumes it, and a
  changed upstream file never appends to stale bytes;
- ``.modelhub/partial/<name>-<commit>/``: a model folder being assembled;
- ``.modelhub/pulled/<name>.json``: what each registered pull came from
  (repo, commit, quantization, every file's size and SHA-256), written just
  before the model is moved into place.

A model is registered only by its final file (or folder) appearing under its
final name, by ``os.replace`` from the partial area (same file system, so the
move is atomic).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from backend.modelhub.plan import RemoteFile

HIDDEN = ".modelhub"


def partial_dir(dest: Path) -> Path:
    """The folder holding partial downloads for models folder ``dest``."""
    return dest / HIDDEN / "partial"


def partial_file(dest: Path, remote: RemoteFile) -> Path:
    """The stable partial-file path of ``remote`` in models folder ``dest``."""
    key = (remote.sha256 or remote.blob_id or f"size{remote.size}")[:16]
    return partial_dir(dest) / f"{key}-{remote.name}.part"


def partial_bytes(dest: Path) -> int:
    """Bytes held by partial downloads under ``dest`` (what ``clear_partials`` frees)."""
    root = partial_dir(dest)
    if not root.is_dir():
        return 0
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


@dataclass(frozen=True)
class PullRecord:
    """Where a registered model came from."""

    name: str
    kind: str
    repo: str
    revision: str
    quant: str | None
    files: list[dict[str, Any]] = field(default_factory=list)
    """``{"path": <name in the models folder>, "size": int, "sha256": str}`` each."""


def record_path(dest: Path, name: str) -> Path:
    return dest / HIDDEN / "pulled" / f"{name}.json"


def write_record(dest: Path, record: PullRecord) -> None:
    """Write ``record`` atomically (temporary file, then ``os.replace``)."""
    path = record_path(dest, record.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2), encoding="utf-8")
    os.replace(tmp, path)


def read_record(dest: Path, name: str) -> PullRecord | None:
    """The record of model ``name`` in ``dest``, or None (missing or unreadable)."""
    try:
        data = json.loads(record_path(dest, name).read_text(encoding="utf-8"))
        return PullRecord(**data)
    except (OSError, ValueError, TypeError):
        return None


def delete_record(dest: Path, name: str) -> None:
    record_path(dest, name).unlink(missing_ok=True)
