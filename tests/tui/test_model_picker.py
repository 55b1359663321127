"""The model picker says where each model runs and which runtimes are down:
a fake runtime next to a real Ollama runtime whose server is not running,
and a plugin that failed to load."""

from __future__ import annotations

import socket
from pathlib import Path

from textual.widgets import OptionList

from assistant.screens.picker import PickerScreen
from backend import Backend
from backend.config import GenerationSettings, OllamaSettings, Settings
from backend.locations import Locations
from backend.runtimes.fake import FakeRuntime
from backend.runtimes.ollama import OllamaRuntime
from backend.runtimes.registry import UnavailableRuntime

from .helpers import SIZE, make_app, settle, wait_screen


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_picker_shows_runtimes_and_the_ones_that_are_down(tmp_path: Path) -> None:
    host = f"http://127.0.0.1:{_closed_port()}"
    settings = Settings(
        default_model="fake-model",
        generation=GenerationSettings(max_tokens=64),
        ollama=OllamaSettings.model_validate({"host": host}),
    )
    runtimes = [FakeRuntime(models=("fake-model", "fake-large")), OllamaRuntime(settings)]
    backend = Backend(locations=Locations(tmp_path), settings=settings, runtimes=runtimes)
    app = make_app(backend)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            backend.unavailable = [UnavailableRuntime("transformers", "ImportError: no torch")]
            await pilot.press("f4")
            await wait_screen(pilot, PickerScreen)
            options = app.screen.query_one(OptionList).options
            prompts = [str(o.prompt) for o in options]
            assert prompts[:2] == ["● fake-model  (fake · local)", "  fake-large  (fake · local)"]
            down = options[2:]
            assert all(o.disabled for o in down) and not any(o.disabled for o in options[:2])
            assert f"ollama: cannot reach the Ollama server at {host}" in str(down[0].prompt)
            assert str(down[1].prompt) == "  ✕ transformers: ImportError: no torch"
            # a disabled line cannot be chosen: moving down from the last model
            # skips the disabled lines
            option_list = app.screen.query_one(OptionList)
            option_list.highlighted = 1
            await pilot.press("down")
            assert option_list.highlighted in (0, 1)
            chosen = options[option_list.highlighted or 0].id
            await pilot.press("enter")
            await settle(pilot)
            assert not isinstance(app.screen, PickerScreen)
            cid = app.main.conversation_id
            assert cid is not None and (await backend.get_conversation(cid)).model == chosen
    finally:
        await backend.close()
