"""Hugging Face models through transformers: the ``[[hf_models]]`` entries.

Design choices, and why:

* **Nothing heavy at import or listing.** torch and transformers are
  imported inside the methods that need them; ``list_models`` reads only
  the config and the folders' files (``transformers_load.entry_problem``),
  so start-up stays instant and a broken entry is listed in
  ``unavailable`` with its reason instead of failing start-up.
* **One model kept loaded**, lazily, keyed by (entry, folder, adapter);
  another model frees the old one first. One re-entrant lock serialises
  loading, counting and generation, as in the llama.cpp runtime.
* **We render and tokenize the prompt ourselves** (``apply_chat_template``
  to text, then the tokenizer without special tokens -- what transformers
  itself does), so ``prompt_tokens`` and ``count_tokens`` are exactly what
  the model is fed. A tokenizer without a template gets ChatML.
* **Streaming** is ``TextIteratorStreamer`` with ``generate`` in a thread.
  One ``StoppingCriteria`` (``_Watch``) stops generation at the next token
  when ``cancel`` is set or a stop string was seen, and records token
  counts and timestamps for ``Usage`` (TTFT from the start of ``stream``,
  so a lazy load is included; decode speed over sampled tokens). No prefix
  KV cache is kept between calls: ``cached_tokens`` is always 0.
* **Stop strings** are matched on the text (``StopMatcher``), so one split
  across tokens is still never shown; the few tokens generated after it
  before the criteria fires are counted but not shown.
* **No constrained decoding**: ``supports_json_schema`` is false, so the
  facade only asks for JSON. ``native_tools`` is true when the chat
  template takes ``tools``; such a request's text is held and parsed whole
  (``parse_tool_calls``), and ``tool_choice="required"`` is not enforced.
* **Adapters**: the entry's ``adapter``, or the facade's active tune-up
  (``ModelInfo.adapter``) when its run folder holds a peft adapter.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from typing import Any

from backend.common.config import HFModelEntry, Settings
from backend.common.errors import AssistantError, ContextOverflowError, ModelError
from backend.common.events import Done, ErrorEvent, RuntimeEvent, TextDelta, ToolCallEvent
from backend.common.locations import Locations
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes import transformers_load as hf
from backend.runtimes.base import ChatMessage, GenerationRequest, Runtime
from backend.runtimes.llamacpp_stream import StopMatcher, StreamClock
from backend.runtimes.native_tools import parse_tool_calls, template_supports_tools, tool_format
from backend.runtimes.token_costs import message_costs

RUNTIME_NAME = "transformers"
# Used when a tokenizer has no chat template (the same as the llama.cpp runtime's).
FALLBACK_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class _Watch:
    """A stopping criterion that also watches the generation: it stops at
    the next token once ``halt`` or ``cancel`` is set, and counts tokens."""

    def __init__(self, prompt_len: int, cancel: threading.Event, clock: StreamClock) -> None:
        self.prompt_len = prompt_len
        self.cancel = cancel
        self.halt = threading.Event()
        self.clock = clock
        self.generated = 0
        self.last_token: int | None = None

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        self.clock.sampled()
        self.generated = int(input_ids.shape[1]) - self.prompt_len
        self.last_token = int(input_ids[0, -1])
        stop = self.halt.is_set() or self.cancel.is_set()
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


class TransformersRuntime(Runtime):
    """Runs ``[[hf_models]]`` folders with transformers (+ bitsandbytes, + peft)."""

    name = RUNTIME_NAME
    supports_json_schema = False

    def __init__(self, settings: Settings, locations: Locations | None = None) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._loaded: hf.HFLoaded | None = None
        self.unavailable: dict[str, str] = {}
        """Entry name -> why it is not listed (after ``list_models``)."""

    # -- catalog ---------------------------------------------------------

    def list_models(self) -> list[ModelInfo]:
        models: list[ModelInfo] = []
        unavailable: dict[str, str] = {}
        for entry in self.settings.hf_models:
            problem = hf.entry_problem(entry)
            if problem is not None:
                unavailable[entry.name] = problem
                continue
            path = hf.model_dir(entry)
            models.append(
                ModelInfo(
                    name=entry.name,
                    runtime=self.name,
                    path=path,
                    source="config",
                    size_bytes=hf.weights_size(path),
                    context_length=self._context(entry),
                    description=entry.description or _describe(entry),
                )
            )
        self.unavailable = unavailable
        return models

    @property
    def unavailable_reason(self) -> str | None:
        """Why configured models are missing from ``list_models``, if any are."""
        if not self.unavailable:
            return None
        return "; ".join(f"{name}: {why}" for name, why in self.unavailable.items())

    def _entry(self, model: ModelInfo) -> HFModelEntry:
        for entry in self.settings.hf_models:
            if entry.name == model.name:
                return entry
        raise ModelError(f"{model.name!r} is not one of the [[hf_models]] in the config")

    @staticmethod
    def _context(entry: HFModelEntry) -> int:
        trained = hf.trained_context(hf.model_dir(entry))
        return min(entry.max_context, trained) if trained else entry.max_context

    def context_window(self, model: ModelInfo) -> int:
        """``max_context`` of the entry, capped at ``max_position_embeddings``."""
        return self._context(self._entry(model))

    def native_tools(self, model: ModelInfo) -> bool:
        """True when the model folder's chat template takes ``tools``."""
        try:
            entry = self._entry(model)
        except ModelError:
            return False
        return template_supports_tools(hf.chat_template(hf.model_dir(entry)))

    # -- loading ---------------------------------------------------------

    @property
    def loaded(self) -> hf.HFLoaded | None:
        """The loaded model and tokenizer, if any (tests and diagnostics)."""
        return self._loaded

    def _ensure_loaded(self, model: ModelInfo) -> hf.HFLoaded:
        entry = self._entry(model)
        adapter = hf.adapter_dir(entry, model.adapter)
        path = hf.model_dir(entry)
        key = (entry.name, str(path.resolve()), str(adapter.resolve()) if adapter else "")
        with self._lock:
            if self._loaded is not None and self._loaded.key == key:
                return self._loaded
            self.close()
            self._loaded = hf.load_model(entry, adapter)
            return self._loaded

    def close(self) -> None:
        """Free the loaded model (the next call loads it again)."""
        with self._lock:
            if self._loaded is None:
                return
            on_cuda = self._loaded.device == "cuda"
            self._loaded = None
            gc.collect()
            if on_cuda:
                import torch

                torch.cuda.empty_cache()

    # -- prompts and tokens ----------------------------------------------

    @staticmethod
    def _render(
        loaded: hf.HFLoaded,
        messages: list[ChatMessage],
        gen: bool = True,
        tools: list[dict[str, Any]] | None = None,
    ) -> str:
        tokenizer = loaded.tokenizer
        extra: dict[str, Any] = {"tools": tools} if tools else {}
        if not tokenizer.chat_template:
            extra["chat_template"] = FALLBACK_TEMPLATE
        try:
            return str(
                tokenizer.apply_chat_template(
                    [{"role": m.role, "content": m.content} for m in messages],
                    tokenize=False,
                    add_generation_prompt=gen,
                    **extra,
                )
            )
        except Exception as err:
            raise ModelError(f"The model's chat template failed: {err}") from None

    @staticmethod
    def _tokenize(loaded: hf.HFLoaded, text: str) -> list[int]:
        # The template already wrote any BOS it wants.
        return list(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_tokens(self, model: ModelInfo, messages: list[ChatMessage]) -> list[int]:
        """The exact tokens ``stream`` will feed the model for ``messages``."""
        with self._lock:
            loaded = self._ensure_loaded(model)
            return self._tokenize(loaded, self._render(loaded, messages))

    def count_tokens(self, model: ModelInfo, messages: list[ChatMessage]) -> list[int]:
        """Per-message prompt cost, template framing included; the sum is
        the length of the real prompt (``backend.runtimes.token_costs``)."""
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
        except AssistantError as err:
            yield ErrorEvent(str(err), title=err.title)
            yield Done("error")
        except Exception as err:
            yield ErrorEvent(f"transformers failed: {type(err).__name__}: {err}")
            yield Done("error")

    def _generate(
        self, request: GenerationRequest, cancel: threading.Event, start: float
    ) -> Iterator[RuntimeEvent]:
        import torch
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        loaded = self._ensure_loaded(request.model)
        params = request.params
        template = loaded.tokenizer.chat_template or FALLBACK_TEMPLATE
        tools = request.tools if request.tools and template_supports_tools(template) else None
        prompt = self._tokenize(loaded, self._render(loaded, request.messages, tools=tools))
        n_ctx = self.context_window(request.model)
        if len(prompt) >= n_ctx:
            raise ContextOverflowError(
                f"The prompt has {len(prompt)} tokens but the context window is {n_ctx}."
            )
        if cancel.is_set():
            yield Done("cancelled")
            return
        budget = min(params.max_tokens, n_ctx - len(prompt))
        clock = StreamClock(start=start)
        watch = _Watch(len(prompt), cancel, clock)
        streamer = TextIteratorStreamer(
            loaded.tokenizer, skip_prompt=True, skip_special_tokens=True
        )
        input_ids = torch.tensor([prompt], device=loaded.model.device)
        pad = loaded.tokenizer.pad_token_id
        kwargs: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "max_new_tokens": budget,
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([watch]),
            "pad_token_id": pad if pad is not None else min(loaded.eos_ids, default=0),
        }
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                loaded.model.generate(**kwargs)
            except BaseException as err:
                failure.append(err)
                streamer.end()  # unblock the reader below

        worker = threading.Thread(target=run, name="transformers-generate", daemon=True)
        stopper = StopMatcher(params.stop)
        held: list[str] = []  # a reply with native tools is parsed whole
        hit_stop = False
        clock.prefill_start = time.perf_counter()
        worker.start()
        try:
            for piece in streamer:
                text, hit_stop = stopper.feed(piece)
                if text:
                    clock.texted()
                    if tools:
                        held.append(text)
                    else:
                        yield TextDelta(text)
                if hit_stop or cancel.is_set():
                    break
        finally:
            watch.halt.set()
            worker.join()
        if failure:
            raise ModelError(f"generation failed: {type(failure[0]).__name__}: {failure[0]}")
        tail = "" if hit_stop else stopper.flush()
        if tail:
            clock.texted()
            if tools:
                held.append(tail)
            else:
                yield TextDelta(tail)
        if tools:
            text, calls = parse_tool_calls("".join(held), tool_format(template))
            if text:
                yield TextDelta(text)
            for n, call in enumerate(calls):
                yield ToolCallEvent(call.name, call.arguments, call_id=f"call_{n}")
        ended_on_eos = watch.last_token in loaded.eos_ids and watch.generated > 0
        produced = watch.generated - (1 if ended_on_eos else 0)
        if cancel.is_set() and not hit_stop and not ended_on_eos:
            stop_reason = "cancelled"
        elif hit_stop or ended_on_eos or watch.generated < budget:
            stop_reason = "stop"
        else:
            stop_reason = "length"
        yield clock.usage(len(prompt), produced, len(prompt))
        yield Done(stop_reason)


def _describe(entry: HFModelEntry) -> str:
    extras: list[str] = [entry.quantization] if entry.quantization != "none" else []
    if entry.adapter is not None:
        extras.append(f"+ adapter {entry.adapter.name}")
    return " ".join(["transformers", *extras])


def create_transformers_runtime(settings: Settings, locations: Locations) -> TransformersRuntime:
    return TransformersRuntime(settings, locations)
