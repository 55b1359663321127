"""Removing a downloaded model, and only a downloaded model.

A name is looked up the way ``assistant models`` shows it
(``backend.modelfiles.catalog.discover_models``), or as a file name or path, or as a
model folder pulled by ``pull_folder``. What may be deleted is narrow on
purpose: files directly inside the models folders (the data folder's
``models/`` and ``models_dir``), never the bundled model, never a
``[[models]]`` config entry's file elsewhere on the disk, and a folder only
when the model manager's record says it pulled it. A split model goes as a
whole: every ``-0000k-of-0000n.gguf`` part next to the one named.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from backend.common.config import Settings
from backend.common.locations import Locations, default_locations
from backend.modelfiles import gguf_split
from backend.modelfiles.catalog import BUNDLED_MODEL_NAME, bundled_model_path, discover_models
from backend.modelhub import layout
from backend.modelhub.errors import ModelNotFoundError, RemoveRefusedError
from backend.modelhub.records import Removed


def _models_folders(locations: Locations, settings: Settings) -> list[Path]:
    folders = [locations.models]
    if settings.models_dir is not None:
        folders.append(Path(settings.models_dir).expanduser())
    return [f.resolve() for f in folders]


def _find_gguf(name: str, locations: Locations, settings: Settings) -> Path | None:
    wanted = name.lower()
    looks_like_path = "/" in name or name.lower().endswith(".gguf")
    target = Path(name).expanduser().absolute() if looks_like_path else None
    for model in discover_models(settings, locations):
        if model.path is None:
            continue
        if model.name == wanted or model.path.name == name:
            return model.path
        if target is not None and model.path.absolute() == target:
            return model.path
    if target is not None and target.is_file():
        return target
    return None


def _split_family(path: Path) -> list[Path]:
    part = gguf_split.split_part(path.name)
    if part is None:
        return [path]
    family = [path.parent / gguf_split.split_name(part.prefix, i, part.count)
              for i in range(1, part.count + 1)]  # fmt: skip
    return [p for p in family if p.exists() or p.is_symlink()]


def _size(path: Path) -> int:
    """Bytes the deletion frees: a symlink frees nothing of its target."""
    if path.is_symlink():
        return 0
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return path.stat().st_size


def remove_model(
    name: str, locations: Locations | None = None, settings: Settings | None = None
) -> Removed:
    """Delete a downloaded model (all parts, or its folder) from a models folder.

    Args:
        name: the model's name as ``assistant models`` lists it, its file
            name, its path, or the name of a pulled model folder.
        locations: the data folder (default: ``default_locations()``).
        settings: for ``models_dir`` and ``[[models]]`` entries (default: none).

    Returns:
        The deleted paths and the bytes freed.

    Raises:
        RemoveRefusedError: the bundled model, a file outside the models
            folders, or a folder the model manager did not pull.
        ModelNotFoundError: nothing by that name.
    """
    locations = locations or default_locations()
    settings = settings or Settings()
    folders = _models_folders(locations, settings)
    bundled = bundled_model_path()
    if name.lower() == BUNDLED_MODEL_NAME:
        raise RemoveRefusedError(
            f"{BUNDLED_MODEL_NAME} is the bundled model: it ships with the app and cannot be "
            "removed."
        )

    for folder in folders:
        candidate = folder / name
        if "/" not in name and candidate.is_dir() and not candidate.is_symlink():
            if layout.read_record(folder, name) is None:
                raise RemoveRefusedError(
                    f"{candidate} was not downloaded by the assistant; delete it yourself if "
                    "you are sure."
                )
            freed = _size(candidate)
            shutil.rmtree(candidate)
            layout.delete_record(folder, name)
            return Removed(name, (candidate,), freed)

    path = _find_gguf(name, locations, settings)
    if path is None:
        raise ModelNotFoundError(
            f"No model named {name!r} in {', '.join(str(f) for f in folders)}."
        )
    if bundled is not None and path.resolve() == bundled.resolve():
        raise RemoveRefusedError(
            f"{path} is the bundled model: it ships with the app and cannot be removed."
        )
    parent = path.absolute().parent.resolve()
    if parent not in folders:
        raise RemoveRefusedError(
            f"{path} is not in a models folder ({', '.join(str(f) for f in folders)}); the "
            "assistant only deletes files it manages. Remove its [[models]] entry from "
            "config.toml instead."
        )
    family = _split_family(path)
    freed = sum(_size(p) for p in family)
    for p in family:
        p.unlink()
    layout.delete_record(parent, family[0].name)
    return Removed(name, tuple(family), freed)


def clear_partials(dest: Path) -> int:
    """Delete every partial download in models folder ``dest``.

    Pulls keep partial files on purpose (the next pull resumes them); this is
    the way to give that space back.

    Returns:
        The bytes freed.
    """
    freed = layout.partial_bytes(dest)
    shutil.rmtree(layout.partial_dir(dest), ignore_errors=True)
    return freed
