"""GGUF models in-process through llama-cpp-python.

Design choices, and why:

* **One model kept loaded.** Loading is lazy (the TUI is interactive before
  any model exists in memory) and the ``Llama`` object is kept between calls,
  keyed by (file, context size); asking for another model frees the old one
  first, so memory holds one model at a time.
* **KV-cache prefix reuse.** We render the chat template ourselves and call
  ``Llama.generate`` on the same ``Llama`` object every turn. ``generate``
  keeps the longest common prefix of the previous token sequence and only
  processes the new suffix, so turn 10 of a conversation does not re-read
  turns 1-9 -- provided the facade keeps earlier turns byte-identical
  (see DESIGN.md, "Performance rules"). ``Usage.cached_tokens`` reports it.
* **Exact numbers.** Because we tokenize the rendered prompt ourselves,
  ``prompt_tokens`` is exact; how many of them llama.cpp actually processed
  comes from its own perf counters (``llama_perf_context``), reset per call.
  TTFT is measured from the start of ``stream`` to the first emitted text (so
  it includes a lazy model load on the first call: that is what the user
  waits for); decode speed is wall clock between the first and last sampled
  token (what the user sees, sampling included).
* **Never hand llama.cpp a bad file.** Every file goes through
  ``validate_gguf`` first; a truncated or foreign file becomes a
  ``ModelError`` instead of an abort or a segfault.
* **One lock.** A llama.cpp context is not thread-safe, so loading, token
  counting and generation are serialised by one re-entrant lock held for a
  whole ``stream``; a second caller waits for the first reply to finish.
"""

from __future__ import annotations

import codecs
import ctypes
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.common.config import Settings
from backend.common.cores import physical_cores
from backend.common.errors import AssistantError, ContextOverflowError, ModelError
from backend.common.events import Done, ErrorEvent, RuntimeEvent, TextDelta, ToolCallEvent
from backend.common.locations import Locations
from backend.modelfiles.adapter_check import validate_adapter
from backend.modelfiles.catalog import RUNTIME_NAME, ModelInfo, discover_models, validate_gguf
from backend.runtimes.base import ChatMessage, GenerationRequest, Runtime
from backend.runtimes.llamacpp_grammar import GrammarCache
from backend.runtimes.llamacpp_stream import StopMatcher, StreamClock
from backend.runtimes.llamacpp_threads import DecodeTimer, ThreadChooser
from backend.runtimes.native_tools import envelope_grammar, gguf_tool_format, parse_tool_calls
from backend.runtimes.token_costs import message_costs

if TYPE_CHECKING:
    from llama_cpp import Llama

# Used when a GGUF carries no chat template: ChatML, which most instruct
# models of the last years were tuned on.
FALLBACK_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Sampling knobs not exposed in GenerationParams; llama-cpp-python's defaults.
TOP_K = 40
MIN_P = 0.05


@dataclass
class _Loaded:
    key: tuple[str, int, str]  # model path, n_ctx, adapter path ("" for none)
    llm: Llama
    render: Any  # Jinja2ChatFormatter, with the generation prompt
    render_plain: Any  # the same template without it
    vocab: Any


class LlamaCppRuntime(Runtime):
    """Runs the catalog's GGUF models (``backend.modelfiles.catalog``) with llama.cpp."""

    name = RUNTIME_NAME
    supports_json_schema = True

    def __init__(self, settings: Settings, locations: Locations) -> None:
        self.settings = settings
        self.locations = locations
        self._lock = threading.RLock()
        self._loaded: _Loaded | None = None
        self._grammars = GrammarCache()
        self.threads = ThreadChooser(self.n_threads, adaptive=settings.llama.n_threads is None)
        """The decode thread count, measured (``llamacpp_threads``)."""

    # -- catalog ---------------------------------------------------------

    def list_models(self) -> list[ModelInfo]:
        try:
            return discover_models(self.settings, self.locations)
        except Exception:
            return []

    def native_tools(self, model: ModelInfo) -> bool:
        """True when the GGUF's chat template takes ``tools``."""
        return model.path is not None and gguf_tool_format(model.path) is not None

    def _requested_ctx(self, model: ModelInfo) -> int:
        for entry in self.settings.models:
            if entry.n_ctx and (
                entry.name == model.name
                or (model.path is not None and entry.path.expanduser() == model.path)
            ):
                return entry.n_ctx
        return self.settings.llama.n_ctx

    def context_window(self, model: ModelInfo) -> int:
        """The configured ``n_ctx`` (per-model entry, else ``llama.n_ctx``),
        capped at the context length the model was trained for."""
        requested = self._requested_ctx(model)
        trained = None
        if model.path is not None:
            try:
                trained = validate_gguf(model.path).context_length
            except ModelError:
                trained = None  # the load reports the problem
        return min(requested, trained) if trained else requested

    # -- loading ---------------------------------------------------------

    @property
    def n_threads(self) -> int:
        return self.settings.llama.n_threads or physical_cores()

    @property
    def n_threads_batch(self) -> int:
        return self.settings.llama.n_threads_batch or self.n_threads

    @property
    def llama(self) -> Llama | None:
        """The loaded ``Llama`` object, if any (tests and diagnostics)."""
        return self._loaded.llm if self._loaded else None

    def _gpu_layers(self, llama_cpp: Any) -> int:
        if self.settings.llama.n_gpu_layers is not None:
            return self.settings.llama.n_gpu_layers
        return -1 if llama_cpp.llama_supports_gpu_offload() else 0

    def _ensure_loaded(self, model: ModelInfo) -> _Loaded:
        if model.path is None:
            raise ModelError(f"Model {model.name!r} has no file path.")
        n_ctx = self.context_window(model)
        adapter = str(model.adapter) if model.adapter else ""
        key = (str(Path(model.path).expanduser().resolve()), n_ctx, adapter)
        with self._lock:
            if self._loaded is not None and self._loaded.key == key:
                return self._loaded
            validate_gguf(model.path)
            if model.adapter:
                # llama.cpp aborts or segfaults on a bad adapter instead of
                # raising: check it first
                validate_adapter(Path(model.adapter), Path(model.path).expanduser())
            self.close()
            self._loaded = self._load(model, key, n_ctx)
            return self._loaded

    def _load(self, model: ModelInfo, key: tuple[str, int, str], n_ctx: int) -> _Loaded:
        try:
            import llama_cpp
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as err:
            raise ModelError(f"llama-cpp-python is not installed ({err}).") from None
        llama_settings = self.settings.llama
        try:
            llm = llama_cpp.Llama(
                model_path=key[0],
                n_ctx=n_ctx,
                n_batch=min(llama_settings.n_batch, n_ctx),
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads_batch,
                n_gpu_layers=self._gpu_layers(llama_cpp),
                flash_attn=llama_settings.flash_attn,
                lora_path=key[2] or None,
                verbose=False,
            )
        except Exception as err:
            raise ModelError(f"llama.cpp could not load {model.path}: {err}") from None

        def token_text(token_id: int) -> str:
            if token_id < 0:
                return ""
            return llm.detokenize([token_id], special=True).decode("utf-8", errors="replace")

        template = llm.metadata.get("tokenizer.chat_template") or FALLBACK_TEMPLATE
        eos, bos = token_text(llm.token_eos()), token_text(llm.token_bos())
        return _Loaded(
            key=key,
            llm=llm,
            render=Jinja2ChatFormatter(template, eos, bos, add_generation_prompt=True),
            render_plain=Jinja2ChatFormatter(template, eos, bos, add_generation_prompt=False),
            vocab=llama_cpp.llama_model_get_vocab(llm.model),
        )

    def reset_cache(self) -> None:
        """Forget the KV cache (benchmarks use it for cold-prompt runs)."""
        with self._lock:
            if self._loaded is not None:
                self._loaded.llm.reset()

    def close(self) -> None:
        """Free the loaded model (the next call loads it again)."""
        with self._lock:
            if self._loaded is not None:
                self._loaded.llm.close()
                self._loaded = None

    # -- prompts and tokens ----------------------------------------------

    @staticmethod
    def _as_dicts(messages: list[ChatMessage]) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.content} for m in messages]

    def _render(
        self,
        loaded: _Loaded,
        messages: list[ChatMessage],
        gen: bool = True,
        tools: list[dict[str, Any]] | None = None,
    ) -> str:
        formatter = loaded.render if gen else loaded.render_plain
        extra: dict[str, Any] = {"tools": tools} if tools else {}
        try:
            return str(formatter(messages=self._as_dicts(messages), **extra).prompt)
        except Exception as err:
            raise ModelError(f"The model's chat template failed: {err}") from None

    @staticmethod
    def _tokenize(loaded: _Loaded, text: str) -> list[int]:
        # The template already wrote any BOS it wants (llama-cpp-python's
        # own chat handlers pass add_bos=False for the same reason).
        return list(loaded.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prompt_tokens(self, model: ModelInfo, messages: list[ChatMessage]) -> list[int]:
        """The exact tokens ``stream`` will feed the model for ``messages``."""
        with self._lock:
            loaded = self._ensure_loaded(model)
            return self._tokenize(loaded, self._render(loaded, messages))

    def count_tokens(self, model: ModelInfo, messages: list[ChatMessage]) -> list[int]:
        """Per-message prompt cost, template framing included (see
        ``backend.runtimes.token_costs``)."""
        if not messages:
            return []
        with self._lock:
            loaded = self._ensure_loaded(model)
            return message_costs(
                messages,
                lambda ms, gen: self._render(loaded, ms, gen=gen),
                lambda text: len(self._tokenize(loaded, text)),
            )

    # -- generation ------------------------------------------------------

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[RuntimeEvent]:
        start = time.perf_counter()
        try:
            with self._lock:
                yield from self._generate(request, cancel, start)
        except AssistantError as err:  # model, context, adapter problems
            yield ErrorEvent(str(err), title=err.title)
            yield Done("error")
        except Exception as err:
            yield ErrorEvent(f"llama.cpp failed: {type(err).__name__}: {err}")
            yield Done("error")

    def _generate(
        self, request: GenerationRequest, cancel: threading.Event, start: float
    ) -> Iterator[RuntimeEvent]:
        import llama_cpp

        loaded = self._ensure_loaded(request.model)
        llm = loaded.llm
        params = request.params
        fmt = gguf_tool_format(request.model.path) if request.tools else None
        tools = request.tools if fmt else None
        prompt = self._tokenize(loaded, self._render(loaded, request.messages, tools=tools))
        n_ctx = llm.n_ctx()
        if len(prompt) >= n_ctx:
            raise ContextOverflowError(
                f"The prompt has {len(prompt)} tokens but the context window is {n_ctx}."
            )
        if cancel.is_set():
            yield Done("cancelled")
            return
        budget = min(params.max_tokens, n_ctx - len(prompt))
        batch_threads = self.settings.llama.n_threads_batch

        def set_threads(n: int) -> None:
            llama_cpp.llama_set_n_threads(llm.ctx, n, batch_threads or n)

        set_threads(self.threads.current)
        timer = DecodeTimer(self.threads, set_threads)
        llm.set_seed(params.seed if params.seed is not None else random.randrange(2**31))
        llama_cpp.llama_perf_context_reset(llm.ctx)

        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stopper = StopMatcher(params.stop)
        clock = StreamClock(start=start)
        stop_reason = "length"
        produced = 0
        processed = 0
        hit_stop = False
        tokens = llm.generate(
            prompt,
            top_k=TOP_K,
            top_p=params.top_p,
            min_p=MIN_P,
            temp=params.temperature,
            repeat_penalty=1.0,
            grammar=(
                self._grammars.get_gbnf(envelope_grammar(tools, fmt))
                if tools and fmt and request.tool_choice == "required"
                else self._grammars.get(None if tools else params.json_schema)
            ),
        )
        held: list[str] = []  # a reply with native tools is parsed whole
        clock.prefill_start = time.perf_counter()
        try:
            for token in tokens:
                clock.sampled()
                timer.token()
                if clock.samples == 1:
                    perf = llama_cpp.llama_perf_context(llm.ctx)
                    processed = int(perf.n_p_eval) + int(perf.n_eval)
                if llama_cpp.llama_vocab_is_eog(loaded.vocab, token):
                    stop_reason = "stop"
                    break
                produced += 1
                text, hit_stop = stopper.feed(decoder.decode(self._piece(loaded, token)))
                if text:
                    clock.texted()
                    if tools:
                        held.append(text)
                    else:
                        yield TextDelta(text)
                if hit_stop:
                    stop_reason = "stop"
                    break
                if cancel.is_set():
                    stop_reason = "cancelled"
                    break
                if produced >= budget:
                    stop_reason = "length"
                    break
        except Exception:
            llm.reset()  # the KV cache may be half-written: start clean next time
            raise
        finally:
            tokens.close()
        # Text held back as a possible stop-string start is real text unless a
        # stop string was hit; an incomplete UTF-8 tail (cut by cancel or
        # max_tokens) is dropped rather than shown as a broken character.
        tail = "" if hit_stop else stopper.flush()
        if tail:
            clock.texted()
            if tools:
                held.append(tail)
            else:
                yield TextDelta(tail)
        if tools and fmt:
            text, calls = parse_tool_calls("".join(held), fmt)
            if text:
                yield TextDelta(text)
            for n, call in enumerate(calls):
                yield ToolCallEvent(call.name, call.arguments, call_id=f"call_{n}")
        yield clock.usage(len(prompt), produced, processed)
        yield Done(stop_reason)

    @staticmethod
    def _piece(loaded: _Loaded, token: int) -> bytes:
        """Bytes of one token (may be part of a UTF-8 character). Our own
        call, because llama-cpp-python's detokenize uses a fixed 32-byte
        buffer and mangles longer tokens."""
        import llama_cpp

        size = 64
        while True:
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(loaded.vocab, token, buf, size, 0, False)
            if n >= 0:
                return buf.raw[:n]
            size = -n
