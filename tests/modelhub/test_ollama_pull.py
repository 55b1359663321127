"""Ollama pulls through the official client, against a loopback Ollama stand-in."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from ollama import Client
from runtimes.ollama_protocol_server import OllamaProtocolServer

from backend.modelfiles.catalog import bundled_model_path
from backend.modelhub.errors import HubUnreachableError, ModelNotFoundError, PullCancelledError
from backend.modelhub.ollama_pull import ollama_pull
from backend.modelhub.progress import PullProgress

LAYERS = {"qwen2.5:0.5b": [397_807_936, 1_482], "slow:1b": [10_000_000]}


@pytest.fixture(scope="module")
def ollama() -> Iterator[OllamaProtocolServer]:
    model = bundled_model_path()
    assert model is not None
    with OllamaProtocolServer(model, pullable=LAYERS) as server:
        yield server


def test_pull_maps_the_stream_to_progress_and_the_model_appears(
    ollama: OllamaProtocolServer,
) -> None:
    events: list[PullProgress] = []
    ollama_pull("qwen2.5:0.5b", ollama.url, on_progress=events.append)

    statuses = [e.status for e in events]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert "verifying sha256 digest" in statuses
    layers = [e for e in events if e.total_bytes is not None]
    assert {e.total_bytes for e in layers} == set(LAYERS["qwen2.5:0.5b"])
    assert all(len(e.file) == 12 for e in layers)  # the layer's short digest
    big = [e for e in layers if e.total_bytes == LAYERS["qwen2.5:0.5b"][0]]
    assert [e.done_bytes for e in big] == [0, 99_451_984, 198_903_968, 298_355_952, 397_807_936]
    assert big[-1].fraction == 1.0
    names = [m.model for m in Client(host=ollama.url).list().models]
    assert "qwen2.5:0.5b" in names
    assert ollama._llm is None  # pulling never needed the chat model


def test_unknown_ollama_model_is_a_clear_error(ollama: OllamaProtocolServer) -> None:
    with pytest.raises(ModelNotFoundError, match="Ollama cannot find 'no-such:7b'") as err:
        ollama_pull("no-such:7b", ollama.url)
    assert err.value.title == "Model not found"


def test_no_ollama_server_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    host = f"http://127.0.0.1:{port}"
    with pytest.raises(HubUnreachableError, match=f"No Ollama server answers at {host}"):
        ollama_pull("qwen2.5:0.5b", host)


def test_cancel_stops_the_ollama_pull(ollama: OllamaProtocolServer) -> None:
    ollama.pull_delay_s, ollama.pull_steps = 0.02, 100
    cancel = threading.Event()

    def progress(p: PullProgress) -> None:
        if p.done_bytes > 0:
            cancel.set()

    try:
        with pytest.raises(PullCancelledError):
            ollama_pull("slow:1b", ollama.url, on_progress=progress, cancel=cancel)
        deadline = time.monotonic() + 5
        while not ollama.pull_closed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ollama.pull_closed, "the server never saw the client hang up"
        assert "slow:1b" not in ollama.models
    finally:
        ollama.pull_delay_s, ollama.pull_steps = 0.0, 4
