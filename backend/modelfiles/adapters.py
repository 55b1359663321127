"""Tune-up adapters: where runs live, which one is active, and how to roll back.

A run is one directory, ``<data dir>/adapters/<model>/<run id>/``, holding
``run.json`` (method, config, dataset summary, metrics, the before/after
verdict), peft's ``adapter_config.json`` + ``adapter_model.safetensors`` and,
once exported, ``adapter.gguf`` for llama.cpp. Nothing else records a run:
listing the folders is the list of adapters, deleting a folder deletes one.

Which adapter is active is one small file, ``adapters/active.json``
(``{model name: run id}``): one adapter at a time per model, and rolling
back is removing the model's entry. The facade resolves a model to a
``ModelInfo`` whose ``adapter`` is the active run's GGUF, and the llama.cpp
runtime loads it (after ``backend.modelfiles.adapter_check`` has vetted it). The
trainer writes runs through ``new_run_dir``/``write_run``; the backend
never imports the trainer.

A run whose ``run.json`` says ``"base": {"kind": "hf"}`` was trained on a
Hugging Face model folder (a transformers-runtime model): it has no GGUF,
by design, and its adapter is the peft folder itself. For such a run
``ModelInfo.adapter`` is the run's ``adapter_config.json`` (a file, so
``log_name`` still names the run), and the transformers runtime applies
the folder it sits in.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.common.errors import AdapterError, NotFoundError
from backend.common.locations import Locations

RUN_FILE = "run.json"
GGUF_FILE = "adapter.gguf"
ACTIVE_FILE = "active.json"
PEFT_CONFIG = "adapter_config.json"
PEFT_WEIGHTS = "adapter_model.safetensors"


def adapters_root(locations: Locations) -> Path:
    return locations.home / "adapters"


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "model"


def new_run_dir(locations: Locations, model_name: str, kind: str = "sft") -> Path:
    """A fresh, empty run directory (a suffix keeps two runs in one second apart)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    parent = adapters_root(locations) / safe_name(model_name)
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        run = parent / f"{stamp}-{kind}{'' if n == 0 else f'-{n}'}"
        try:
            run.mkdir()
        except FileExistsError:
            continue
        return run
    raise RuntimeError(f"cannot allocate a run directory under {parent}")


def write_run(run_dir: Path, record: dict[str, Any]) -> None:
    """Write ``run.json`` atomically (a crash leaves the old one or none)."""
    tmp = run_dir / (RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
    tmp.replace(run_dir / RUN_FILE)


@dataclass(frozen=True)
class RunInfo:
    path: Path
    model: str
    record: dict[str, Any]

    @property
    def gguf(self) -> Path | None:
        p = self.path / GGUF_FILE
        return p if p.is_file() else None

    @property
    def base_kind(self) -> str:
        """``gguf`` (a llama.cpp model; older runs say nothing) or ``hf``."""
        base = self.record.get("base")
        kind = base.get("kind") if isinstance(base, dict) else None
        return "hf" if kind == "hf" else "gguf"

    @property
    def peft(self) -> Path | None:
        """The peft adapter's config file, when its weights are there too."""
        config = self.path / PEFT_CONFIG
        return config if config.is_file() and (self.path / PEFT_WEIGHTS).is_file() else None

    @property
    def chat_adapter(self) -> Path | None:
        """What the chat runtime applies: the GGUF for a GGUF base, the peft
        adapter for a Hugging Face base."""
        return self.peft if self.base_kind == "hf" else self.gguf


def list_runs(locations: Locations, model_name: str | None = None) -> list[RunInfo]:
    """Finished runs, newest first; folders without a readable run.json are skipped."""
    root = adapters_root(locations)
    out = []
    for run_json in root.glob("*/*/" + RUN_FILE):
        model = run_json.parent.parent.name
        if model_name is not None and model != safe_name(model_name):
            continue
        try:
            record = json.loads(run_json.read_text())
        except (OSError, ValueError):
            continue
        out.append(RunInfo(run_json.parent, model, record))
    return sorted(out, key=lambda r: r.path.name, reverse=True)


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class Adapter:
    """One tune-up run as the UI and CLI show it."""

    run_id: str
    model: str
    method: str
    created: str
    path: Path
    gguf: Path | None
    active: bool
    helps: bool | None
    """The run's before/after verdict (None when it was not evaluated)."""
    summary: str
    """The verdict's one line (held-out NLL and adherence, base vs tuned)."""
    metrics: dict[str, Any]
    base: str = "gguf"
    """What it was trained on: ``gguf`` (llama.cpp applies ``gguf``) or ``hf``
    (a Hugging Face folder; the transformers runtime applies the peft adapter
    in ``path``, and ``gguf`` is None by design)."""


def _as_adapter(run: RunInfo, active: str | None) -> Adapter:
    record = run.record
    verdict = record.get("verdict") or {}
    helps = verdict.get("helps") if isinstance(verdict, dict) else None
    return Adapter(
        run_id=run.path.name,
        model=str(record.get("model", run.model)),
        method=str(record.get("method") or record.get("kind") or "sft"),
        created=str(record.get("created", run.path.name[:15])),
        path=run.path,
        gguf=run.gguf,
        active=run.path.name == active,
        helps=helps if isinstance(helps, bool) else None,
        summary=str(verdict.get("summary", "")) if isinstance(verdict, dict) else "",
        metrics=dict(record.get("metrics") or {}),
        base=run.base_kind,
    )


# ---------------------------------------------------------------- active state


def _active_path(locations: Locations) -> Path:
    return adapters_root(locations) / ACTIVE_FILE


def _read_active(locations: Locations) -> dict[str, str]:
    try:
        data = json.loads(_active_path(locations).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_active(locations: Locations, active: dict[str, str]) -> None:
    path = _active_path(locations)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(active, indent=2, sort_keys=True))
    os.replace(tmp, path)


def adapters(locations: Locations, model_name: str | None = None) -> list[Adapter]:
    """Every run (of ``model_name``, or of all models), newest first."""
    active = _read_active(locations)
    return [_as_adapter(run, active.get(run.model)) for run in list_runs(locations, model_name)]


def active_adapter(locations: Locations, model_name: str) -> Path | None:
    """The GGUF of ``model_name``'s active adapter (the peft adapter's
    ``adapter_config.json`` for a run on a Hugging Face base), or None (none
    active, or its files are gone: a deleted run silently means no adapter)."""
    run_id = _read_active(locations).get(safe_name(model_name))
    if run_id is None:
        return None
    folder = adapters_root(locations) / safe_name(model_name) / run_id
    gguf = folder / GGUF_FILE
    if gguf.is_file():
        return gguf
    try:
        record = json.loads((folder / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    run = RunInfo(folder, safe_name(model_name), record if isinstance(record, dict) else {})
    return run.chat_adapter


def activate(locations: Locations, run_id: str, *, force: bool = False) -> Adapter:
    """Make ``run_id`` its model's active adapter.

    Raises:
        NotFoundError: no such run.
        AdapterError: the run has no exported GGUF (no peft adapter, for a run
            on a Hugging Face base), or its evaluation says it does not help
            (``force`` overrides that, not a missing file).
    """
    run = next((r for r in list_runs(locations) if r.path.name == run_id), None)
    if run is None:
        raise NotFoundError(f"no tune-up run {run_id!r} (see `assistant adapters list`)")
    adapter = _as_adapter(run, None)
    if run.chat_adapter is None:
        if run.base_kind == "hf":
            raise AdapterError(f"run {run_id} has no peft adapter ({PEFT_CONFIG} + {PEFT_WEIGHTS})")
        raise AdapterError(f"run {run_id} has no exported adapter.gguf")
    if adapter.helps is False and not force:
        raise AdapterError(
            f"run {run_id} did not help on held-out chats ({adapter.summary or 'see run.json'}); "
            "activate it anyway with --force"
        )
    active = _read_active(locations)
    active[run.model] = run_id
    _write_active(locations, active)
    return _as_adapter(run, run_id)


def deactivate(locations: Locations, model_name: str) -> bool:
    """Roll ``model_name`` back to its base weights; False if nothing was active."""
    active = _read_active(locations)
    if active.pop(safe_name(model_name), None) is None:
        return False
    _write_active(locations, active)
    return True
