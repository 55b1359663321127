"""Shared fixtures. Every test gets its own ASSISTANT_HOME under tmp_path,
so nothing ever touches a real profile."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend import Backend
from backend.config import Settings
from backend.locations import Locations
from backend.runtimes.fake import FakeRuntime


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    return home


@pytest.fixture
def locations(tmp_path: Path) -> Locations:
    return Locations(tmp_path / "home")


@pytest.fixture
def fake_runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
async def backend(locations: Locations, fake_runtime: FakeRuntime) -> AsyncIterator[Backend]:
    b = await Backend.open(
        locations=locations,
        settings=Settings(default_model="fake-model"),
        runtimes=[fake_runtime],
    )
    yield b
    await b.close()


def _gpu_offload() -> bool:
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:
        return False


def _torch_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``cuda`` tests need a GPU: a llama.cpp build with GPU offload, or for
    tests also marked ``torch_cuda`` (bitsandbytes, QLoRA) torch with CUDA;
    they are skipped (and say so) on machines without one."""
    wanted = [item for item in items if "cuda" in item.keywords]
    if not wanted:
        return
    llama_gpu = _gpu_offload()
    torch_gpu = _torch_cuda() if any("torch_cuda" in i.keywords for i in wanted) else False
    for item in wanted:
        if "torch_cuda" in item.keywords:
            if not torch_gpu:
                item.add_marker(pytest.mark.skip(reason="needs torch with CUDA and a GPU"))
        elif not llama_gpu:
            item.add_marker(
                pytest.mark.skip(reason="needs a GPU build of llama.cpp and a GPU (CUDA/Metal)")
            )
