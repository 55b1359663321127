"""The transformers runtime's cheap parts: a cheap import, its plugin entry
point, its config section and its errors for missing folders (no model is
loaded here; tests/runtimes/test_transformers_rt.py runs a real one)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from backend.common.config import HFModelEntry, Settings, parse_settings
from backend.common.errors import ConfigError, ModelError
from backend.common.events import Done, ErrorEvent
from backend.common.locations import Locations
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import ChatMessage, GenerationParams, GenerationRequest
from backend.runtimes.transformers_rt import TransformersRuntime

QUESTION = [ChatMessage("user", "What is the capital of France?")]


def _runtime(*entries: HFModelEntry) -> TransformersRuntime:
    return TransformersRuntime(Settings(hf_models=list(entries)))


def _run(rt: TransformersRuntime, model: ModelInfo) -> list[object]:
    request = GenerationRequest(model, QUESTION, GenerationParams(temperature=0.0))
    return list(rt.stream(request, threading.Event()))


def test_import_does_not_load_torch() -> None:
    code = (
        "import sys, backend.runtimes.transformers_rt; "
        "print(sorted({'torch', 'transformers', 'peft'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_registered_as_a_runtime_plugin(locations: Locations) -> None:
    from importlib.metadata import entry_points

    from backend.runtimes.registry import GROUP, _load

    (ep,) = [e for e in entry_points(group=GROUP) if e.name == "transformers"]
    rt = _load(ep.value)(Settings(), locations)
    assert isinstance(rt, TransformersRuntime) and rt.list_models() == []


def test_config_section_is_validated() -> None:
    settings = parse_settings(
        {"hf_models": [{"name": "m", "path": "/x", "quantization": "4bit", "device": "cuda"}]}
    )
    assert settings.hf_models[0].quantization == "4bit"
    assert settings.hf_models[0].max_context == 4096
    with pytest.raises(ConfigError, match=r"hf_models\.0\.quantization"):
        parse_settings({"hf_models": [{"name": "m", "path": "/x", "quantization": "3bit"}]})


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    rt = _runtime(HFModelEntry(name="gone", path=tmp_path / "nowhere"))
    model = ModelInfo(name="gone", runtime="transformers")
    events = _run(rt, model)
    assert isinstance(events[0], ErrorEvent) and events[-1] == Done("error")
    assert "nowhere does not exist" in events[0].message
    with pytest.raises(ModelError, match="does not exist"):
        rt.count_tokens(model, QUESTION)
    unknown = ModelInfo(name="other", runtime="transformers")
    with pytest.raises(ModelError, match="not one of the"):
        rt.count_tokens(unknown, QUESTION)
