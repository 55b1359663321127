"""``Backend.runtime_status`` and ``model_origin`` (the labels of the model
picker and ``assistant models``)."""

from __future__ import annotations

import socket
from pathlib import Path

from backend import Backend
from backend.common.config import OllamaSettings, OpenAIEndpoint, Settings
from backend.common.locations import Locations
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.fake import FakeRuntime
from backend.runtimes.ollama import OllamaRuntime
from backend.runtimes.openai_compat import OpenAICompatRuntime
from backend.runtimes.registry import UnavailableRuntime
from backend.runtimes.status import RuntimeStatus, model_origin


def test_model_origin_labels() -> None:
    local = ModelInfo("smol", "llamacpp", path=Path("/m/smol.gguf"), source="bundled")
    assert model_origin(local) == "local"
    assert model_origin(ModelInfo("llama3:8b", "ollama", source="http://box:11434")) == (
        "http://box:11434"
    )
    assert model_origin(ModelInfo("lab/qwen", "openai", source="http://lab/v1")) == "lab"
    assert model_origin(ModelInfo("fake", "fake", source="test")) == "local"


async def test_runtime_status_reports_down_servers_and_broken_plugins(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(
        ollama=OllamaSettings.model_validate({"host": f"http://127.0.0.1:{port}"}),
        openai_endpoints=[
            OpenAIEndpoint.model_validate(
                {"name": "fixed", "base_url": f"http://127.0.0.1:{port}/v1", "models": ["m"]}
            )
        ],
    )
    runtimes = [FakeRuntime(), OllamaRuntime(settings), OpenAICompatRuntime(settings)]
    backend = Backend(locations=Locations(tmp_path), settings=settings, runtimes=runtimes)
    await backend.start()
    try:
        backend.core.unavailable = [UnavailableRuntime("transformers", "ImportError: torch")]
        statuses = {s.runtime: s for s in await backend.models.runtime_status()}
    finally:
        await backend.close()
    assert statuses["fake"] == RuntimeStatus("fake", 1)
    assert not statuses["fake"].unavailable
    ollama = statuses["ollama"]
    assert ollama.unavailable and ollama.models == 0
    assert f"127.0.0.1:{port}" in (ollama.reason or "")
    # a fixed model list needs no server to be listed: not "down"
    assert statuses["openai"] == RuntimeStatus("openai", 1)
    assert statuses["transformers"] == RuntimeStatus(
        "transformers", 0, "ImportError: torch", loaded=False
    )
