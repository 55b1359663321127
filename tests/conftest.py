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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``cuda`` tests need a llama.cpp build with GPU offload and a GPU;
    they are skipped (and say so) on machines without one."""
    if _gpu_offload():
        return
    skip = pytest.mark.skip(reason="needs a GPU build of llama.cpp and a GPU (CUDA/Metal)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
