"""Where tune-up runs live and how they describe themselves.

A run is one directory, ``<data dir>/adapters/<model>/<run id>/``, holding
``run.json`` (config, dataset summary, metrics, timings), peft's
``adapter_config.json`` + ``adapter_model.safetensors`` and, once exported,
``adapter.gguf`` for llama.cpp. Nothing else records a run: listing the
folder is the list of adapters, deleting the folder deletes the adapter.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.locations import Locations

RUN_FILE = "run.json"
GGUF_FILE = "adapter.gguf"


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
