"""The default llama.cpp runtime: the real bundled model in a worker process."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.common.config import Settings
from backend.common.events import Done, ErrorEvent, RuntimeEvent, TextDelta, Usage
from backend.common.locations import Locations
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import ChatMessage, GenerationParams, GenerationRequest
from backend.runtimes.llamacpp import LlamaCppRuntime
from backend.runtimes.llamacpp_process import LlamaCppProcessRuntime, create_llamacpp_runtime

pytestmark = pytest.mark.real_model

SYSTEM = ChatMessage("system", "You are a helpful assistant. Answer briefly.")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppProcessRuntime]:
    rt = LlamaCppProcessRuntime(Settings(), Locations(tmp_path_factory.mktemp("home")))
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def model(runtime: LlamaCppProcessRuntime) -> ModelInfo:
    return runtime.list_models()[0]


def ask(
    rt: LlamaCppProcessRuntime,
    model: ModelInfo,
    messages: list[ChatMessage],
    max_tokens: int = 16,
    cancel: threading.Event | None = None,
) -> list[RuntimeEvent]:
    request = GenerationRequest(model, messages, GenerationParams(max_tokens, temperature=0.0))
    return list(rt.stream(request, cancel or threading.Event()))


def text(events: list[RuntimeEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_factory_honours_the_setting(tmp_path: Path) -> None:
    loc = Locations(tmp_path)
    assert isinstance(create_llamacpp_runtime(Settings(), loc), LlamaCppProcessRuntime)
    s = Settings()
    s.llama.subprocess = False
    assert isinstance(create_llamacpp_runtime(s, loc), LlamaCppRuntime)


def test_listing_models_starts_no_worker(tmp_path: Path) -> None:
    rt = LlamaCppProcessRuntime(Settings(), Locations(tmp_path))
    assert rt.list_models()[0].name == "smollm2-135m-instruct"
    assert rt.context_window(rt.list_models()[0]) == 4096
    assert rt.worker_pid is None


def test_streams_the_same_reply_as_in_process(
    runtime: LlamaCppProcessRuntime, model: ModelInfo, tmp_path: Path
) -> None:
    messages = [SYSTEM, ChatMessage("user", "What is the capital of France?")]
    events = ask(runtime, model, messages)
    assert runtime.worker_pid not in (None, os.getpid())
    assert isinstance(events[-1], Done) and isinstance(events[-2], Usage)
    usage = events[-2]
    assert usage.prompt_tokens > 10 and 0 < usage.completion_tokens <= 16
    local = LlamaCppRuntime(Settings(), Locations(tmp_path))
    try:
        request = GenerationRequest(model, messages, GenerationParams(16, temperature=0.0))
        assert text(events) == text(list(local.stream(request, threading.Event())))
        assert runtime.count_tokens(model, messages) == local.count_tokens(model, messages)
    finally:
        local.close()


def test_model_stays_loaded_and_prefix_is_reused(
    runtime: LlamaCppProcessRuntime, model: ModelInfo
) -> None:
    first = [SYSTEM, ChatMessage("user", "Name a colour.")]
    events = ask(runtime, model, first)
    pid = runtime.worker_pid
    second = [*first, ChatMessage("assistant", text(events)), ChatMessage("user", "Another?")]
    usage = next(e for e in ask(runtime, model, second) if isinstance(e, Usage))
    assert runtime.worker_pid == pid
    assert usage.cached_tokens >= usage.prompt_tokens - 20


def test_cancel_crosses_the_process_boundary(
    runtime: LlamaCppProcessRuntime, model: ModelInfo
) -> None:
    cancel = threading.Event()
    request = GenerationRequest(
        model,
        [SYSTEM, ChatMessage("user", "Write a long story about a dragon.")],
        GenerationParams(400, temperature=0.0),
    )
    events: list[RuntimeEvent] = []
    for event in runtime.stream(request, cancel):
        events.append(event)
        if sum(isinstance(e, TextDelta) for e in events) == 5:
            cancel.set()
    assert events[-1] == Done("cancelled")
    usage = next(e for e in events if isinstance(e, Usage))
    assert 5 <= usage.completion_tokens < 100


def test_a_worker_crash_is_an_error_and_the_next_call_recovers(
    runtime: LlamaCppProcessRuntime, model: ModelInfo
) -> None:
    ask(runtime, model, [SYSTEM, ChatMessage("user", "Hi")], max_tokens=2)
    pid = runtime.worker_pid
    assert pid is not None
    cancel = threading.Event()
    request = GenerationRequest(
        model,
        [SYSTEM, ChatMessage("user", "Write a long story about a dragon.")],
        GenerationParams(400, temperature=0.0),
    )
    events: list[RuntimeEvent] = []
    for event in runtime.stream(request, cancel):
        events.append(event)
        if len(events) == 3:
            os.kill(pid, signal.SIGSEGV)  # what a llama.cpp crash looks like
    err = next(e for e in events if isinstance(e, ErrorEvent))
    assert err.title == "Model crashed" and "signal 11" in err.message
    assert events[-1] == Done("error")
    # the app goes on: the next request starts a fresh worker
    again = ask(runtime, model, [SYSTEM, ChatMessage("user", "Hi")], max_tokens=4)
    assert isinstance(again[-1], Done) and again[-1].stop_reason in ("stop", "length")
    assert runtime.worker_pid not in (None, pid)


def test_errors_in_the_worker_keep_their_type(
    runtime: LlamaCppProcessRuntime, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    broken = ModelInfo(name="bad", runtime="llamacpp", path=bad)
    events = ask(runtime, broken, [ChatMessage("user", "hi")])
    err = next(e for e in events if isinstance(e, ErrorEvent))
    assert err.title == "Model problem"
    assert events[-1] == Done("error")
    from backend.common.errors import ModelError

    with pytest.raises(ModelError):
        runtime.count_tokens(broken, [ChatMessage("user", "hi")])


def test_byte_bound_used_to_skip_counting_holds_for_the_real_tokenizer(
    runtime: LlamaCppProcessRuntime, model: ModelInfo
) -> None:
    from backend.chat.history import (
        FRAMING_BYTES_FIXED,
        FRAMING_BYTES_PER_MESSAGE,
        surely_fits,
    )

    for messages in (
        [ChatMessage("user", "hi")],  # no system prompt: the template injects one
        [SYSTEM, ChatMessage("user", "Ünïcödé — 日本語のテキスト " * 20)],
        [
            SYSTEM,
            ChatMessage("user", "a b"),
            ChatMessage("assistant", "c"),
            ChatMessage("user", "x" * 500),
        ],
    ):
        tokens = sum(runtime.count_tokens(model, messages))
        bound = FRAMING_BYTES_FIXED + sum(
            len(m.content.encode()) + FRAMING_BYTES_PER_MESSAGE for m in messages
        )
        assert tokens <= bound
        assert surely_fits(messages, bound) and not surely_fits(messages, bound - 1)
