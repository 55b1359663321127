"""GPU offload: by default every layer goes to the GPU when the llama.cpp
build supports it. Runs only where there is a GPU build (marked ``cuda``);
the CPU-only default is covered by ``test_cpu_build_offloads_nothing``."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from backend.common.config import Settings
from backend.common.events import Done, TextDelta
from backend.common.locations import Locations
from backend.runtimes.base import ChatMessage, GenerationParams, GenerationRequest
from backend.runtimes.llamacpp import LlamaCppRuntime

pytestmark = pytest.mark.real_model


def test_cpu_build_offloads_nothing(tmp_path: Path) -> None:
    import llama_cpp

    runtime = LlamaCppRuntime(Settings(), Locations(tmp_path))
    expected = -1 if llama_cpp.llama_supports_gpu_offload() else 0
    assert runtime._gpu_layers(llama_cpp) == expected
    forced = Settings()
    forced.llama.n_gpu_layers = 0
    assert LlamaCppRuntime(forced, Locations(tmp_path))._gpu_layers(llama_cpp) == 0


@pytest.mark.cuda
def test_all_layers_offloaded_and_generation_works(tmp_path: Path) -> None:
    runtime = LlamaCppRuntime(Settings(), Locations(tmp_path))
    model = runtime.list_models()[0]
    try:
        request = GenerationRequest(
            model, [ChatMessage("user", "Say hi.")], GenerationParams(8, temperature=0.0)
        )
        events = list(runtime.stream(request, threading.Event()))
        assert any(isinstance(e, TextDelta) for e in events)
        assert isinstance(events[-1], Done) and events[-1].stop_reason != "error"
        assert runtime.llama is not None
        assert runtime.llama.model_params.n_gpu_layers == -1
    finally:
        runtime.close()
