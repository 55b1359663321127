"""The model picker says where each model runs and which runtimes are down:
a fake runtime next to a real Ollama runtime whose server is not running,
and a plugin that failed to load."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import OptionList

from assistant.screens.picker import PickerScreen
from backend import Backend
from backend.common.config import GenerationSettings, OllamaSettings, OpenAIEndpoint, Settings
from backend.common.locations import Locations
from backend.modelfiles.catalog import bundled_model_path
from backend.runtimes.fake import FakeRuntime
from backend.runtimes.ollama import OllamaRuntime
from backend.runtimes.registry import UnavailableRuntime
from tests.runtimes.llama_openai_server import free_port, llama_openai_server
from tests.runtimes.ollama_protocol_server import MODEL_NAME, OllamaProtocolServer

from .helpers import SIZE, make_app, settle, wait_screen


async def test_picker_shows_runtimes_and_the_ones_that_are_down(tmp_path: Path) -> None:
    host = f"http://127.0.0.1:{free_port()}"
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
            backend.core.unavailable = [UnavailableRuntime("transformers", "ImportError: no torch")]
            await pilot.press("f4")
            await wait_screen(pilot, PickerScreen)
            options = app.screen.query_one(OptionList).options
            prompts = [str(o.prompt) for o in options]
            assert prompts[:2] == ["● fake-model  (fake · local)", "  fake-large  (fake · local)"]
            assert prompts[2].startswith("  Get models…")  # the way to more models
            down = options[3:]
            assert all(o.disabled for o in down) and not any(o.disabled for o in options[:3])
            assert f"ollama: cannot reach the Ollama server at {host}" in str(down[0].prompt)
            assert str(down[1].prompt) == "  ✕ transformers: ImportError: no torch"
            # a disabled line cannot be chosen: moving down from the last
            # enabled line skips the disabled lines
            option_list = app.screen.query_one(OptionList)
            option_list.highlighted = 2
            await pilot.press("down")
            assert option_list.highlighted in (0, 1, 2)
            option_list.highlighted = 1
            chosen = options[1].id
            await pilot.press("enter")
            await settle(pilot)
            assert not isinstance(app.screen, PickerScreen)
            cid = app.main.conversation_id
            assert (
                cid is not None
                and (await backend.conversations.get_conversation(cid)).model == chosen
            )
    finally:
        await backend.close()


@pytest.fixture
def openai_server() -> Iterator[str]:
    """llama-cpp-python's own OpenAI server on loopback, running the bundled model."""
    with llama_openai_server("smol-remote", n_ctx=512) as url:
        yield url


@pytest.mark.real_model
async def test_picker_lists_llamacpp_ollama_and_openai_models(
    tmp_path: Path, openai_server: str
) -> None:
    """The runtimes found the way start-up finds them (plugin discovery), each
    talking to a real server of its protocol on loopback; one picker lists
    the bundled GGUF, the Ollama server's model and the OpenAI endpoint's."""
    model = bundled_model_path()
    assert model is not None
    with OllamaProtocolServer(model) as ollama:
        settings = Settings(
            generation=GenerationSettings(max_tokens=16),
            ollama=OllamaSettings.model_validate({"host": ollama.url}),
            openai_endpoints=[
                OpenAIEndpoint.model_validate({"name": "gpubox", "base_url": openai_server})
            ],
        )
        backend = Backend(locations=Locations(tmp_path), settings=settings)
        app = make_app(backend)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await settle(pilot)
                await pilot.press("f4")
                await wait_screen(pilot, PickerScreen)
                options = app.screen.query_one(OptionList).options
                by_id = {o.id: str(o.prompt) for o in options if o.id}
                runtimes = {m.name: m.runtime for m in await backend.models.list_models()}
                assert {"llamacpp", "ollama", "openai"} <= set(runtimes.values()), runtimes
                assert runtimes[MODEL_NAME] == "ollama"
                assert runtimes["gpubox/smol-remote"] == "openai"
                assert "ollama" in by_id[MODEL_NAME] and ollama.url in by_id[MODEL_NAME]
                assert "gpubox" in by_id["gpubox/smol-remote"]
                bundled = next(n for n, r in runtimes.items() if r == "llamacpp")
                assert "llamacpp" in by_id[bundled] and "local" in by_id[bundled]
                await pilot.press("escape")
        finally:
            await backend.close()
