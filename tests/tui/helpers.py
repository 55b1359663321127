"""Helpers shared by the TUI tests: building backends and waiting for the app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from assistant.app import AssistantApp
from assistant.widgets.message import MessageWidget
from backend import Backend
from backend.common.config import GenerationSettings, Settings, UISettings
from backend.common.locations import Locations
from backend.runtimes.fake import FakeRuntime

SIZE = (120, 40)

MakeBackend = Callable[..., Backend]


def build_backend(
    home: Path,
    runtime: FakeRuntime | None = None,
    *,
    max_tokens: int = 512,
    **ui: object,
) -> Backend:
    settings = Settings(
        default_model="fake-model",
        ui=UISettings(**ui),  # type: ignore[arg-type]
        generation=GenerationSettings(max_tokens=max_tokens),
    )
    return Backend(
        locations=Locations(home), settings=settings, runtimes=[runtime or FakeRuntime()]
    )


def make_app(backend: Backend) -> AssistantApp:
    return AssistantApp(backend, close_backend=False)


async def settle(pilot: Pilot[Any], timeout: float = 10.0) -> None:
    """Wait until every worker (and the workers they start) has finished.

    Not for a worker that waits on a modal's answer: use ``wait_screen``.
    """
    app = pilot.app
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        await asyncio.wait_for(app.workers.wait_for_complete(), timeout)
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            break
        if loop.time() > deadline:
            raise AssertionError("workers still running")
        await asyncio.sleep(0.01)
    await pilot.pause()


def messages(app: AssistantApp) -> list[MessageWidget]:
    return app.main.chat.message_widgets()


async def send(pilot: Pilot[Any], text: str) -> None:
    app = pilot.app
    assert isinstance(app, AssistantApp)
    composer = app.main.query_one("#composer")
    composer.focus()
    await pilot.pause()
    composer.text = text  # type: ignore[attr-defined]
    await pilot.press("enter")
    await settle(pilot)


async def wait_for(pilot: Pilot[Any], predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll the app (not a fixed sleep) until ``predicate`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.02)


async def focus_message(pilot: Pilot[Any], index: int) -> MessageWidget:
    app = pilot.app
    assert isinstance(app, AssistantApp)
    widget = messages(app)[index]
    widget.focus()
    await pilot.pause()
    return widget


def notices(app: AssistantApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def wait_screen(pilot: Pilot[Any], screen_type: type) -> None:
    """Wait for a modal that a worker pushes (the worker waits on its answer,
    so ``settle`` cannot be used here)."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen_type))
    await pilot.pause()
