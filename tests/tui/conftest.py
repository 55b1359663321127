"""Fixtures for driving the real app with Pilot on a FakeRuntime backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from assistant import clipboard
from backend import Backend
from backend.runtimes.fake import FakeRuntime

from .helpers import MakeBackend, build_backend


@pytest.fixture(autouse=True)
def no_system_clipboard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Copy goes to the app's own clipboard (OSC 52 path), never to the desktop's."""
    monkeypatch.setattr(clipboard, "system_copy_command", lambda: None)


@pytest.fixture
async def backends(tmp_path: Path) -> AsyncIterator[MakeBackend]:
    """Make backends on one data folder (so a test can 'restart' the app);
    all are closed at the end."""
    made: list[Backend] = []

    def make(runtime: FakeRuntime | None = None, **options: object) -> Backend:
        backend = build_backend(tmp_path, runtime, **options)  # type: ignore[arg-type]
        made.append(backend)
        return backend

    yield make
    for backend in made:
        if backend.core.started:
            await backend.close()
