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
