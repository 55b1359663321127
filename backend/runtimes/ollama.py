"""Models served by a local Ollama server, through the ``ollama`` client.

Design choices, and why:

* **``num_ctx`` is always sent.** Ollama runs a model with a 2,048-token
  context unless the request says otherwise, and silently drops the start
  of a longer prompt -- which is where the system prompt and retrieved RAG
  context sit. Every request carries ``options.num_ctx`` =
  ``context_window(model)`` (``[ollama] num_ctx``), the same budget the
  facade trimmed the prompt to.
* **Never blocks start-up.** ``/api/tags`` is asked with ``list_timeout_s``
  (1 s) and the answer cached (``remote_common.ModelCache``); no server
  means no models and a reason in ``unavailable_reason``. The client is
  imported only when ``[ollama] enabled`` is true.
* **Usage from the server.** ``prompt_eval_count`` / ``eval_count`` are the
  token counts; ``prompt_eval_duration`` / ``eval_duration`` (ns) give the
  prefill and decode speeds. TTFT and total time are measured here.
* **Native tools** (``backend.runtimes.remote_tools``): ``native_tools`` is
  true for every model -- Ollama knows which models take tools and answers
  ``... does not support tools`` for the others, which becomes a clear
  ``ErrorEvent``. ``request.tools`` is sent as ``tools=``; the calls in
  ``message.tool_calls`` become ``ToolCallEvent``s. Ollama has no
  ``tool_choice``, so ``required`` is best effort: the model may still
  answer in text.
* **Structured output** uses Ollama's ``format=<JSON schema>``, which
  constrains sampling, so ``supports_json_schema`` is true.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from backend.common.config import OllamaSettings, Settings
from backend.common.errors import ModelError
from backend.common.events import Done, ErrorEvent, RuntimeEvent, TextDelta, ToolCallEvent, Usage
from backend.common.locations import Locations
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import ChatMessage, GenerationRequest, Runtime
from backend.runtimes.remote_common import ModelCache, estimate_tokens
from backend.runtimes.remote_tools import ollama_calls, tools_rejected

RUNTIME_NAME = "ollama"


def describe_error(host: str, model: str, err: Exception) -> str:
    import httpx
    import ollama

    where = f"the Ollama server at {host}"
    if isinstance(err, httpx.TimeoutException):
        return f"{where} did not answer in time"
    if isinstance(err, ConnectionError | httpx.TransportError):
        return f"cannot reach {where}: is `ollama serve` running?"
    if isinstance(err, ollama.ResponseError):
        if err.status_code == 404:
            return f"{where} has no model {model!r}; pull it with `ollama pull {model}`"
        if "does not support tools" in str(err.error):
            return tools_rejected(where, model, err.error)
        return f"{where} answered HTTP {err.status_code}: {err.error}"
    return f"{where} failed: {type(err).__name__}: {err}"


def _rate(count: int | None, duration_ns: int | None) -> float | None:
    if not count or not duration_ns:
        return None
    return count / (duration_ns / 1e9)


class OllamaRuntime(Runtime):
    """Chat with the models an Ollama server has pulled."""

    name = RUNTIME_NAME
    supports_json_schema = True

    def __init__(self, settings: Settings, locations: Locations | None = None) -> None:
        self.config: OllamaSettings = settings.ollama
        self._cache = ModelCache(self._fetch)

    def _client(self, timeout: float) -> Any:
        import ollama

        return ollama.Client(host=self.config.host, timeout=timeout)

    def _fetch(self) -> list[ModelInfo]:
        if not self.config.enabled:
            return []
        try:
            listed = self._client(self.config.list_timeout_s).list()
        except Exception as err:
            raise ModelError(describe_error(self.config.host, "", err)) from None
        return [
            ModelInfo(
                name=str(m.model),
                runtime=self.name,
                source=self.config.host,
                size_bytes=m.size,
                context_length=self.config.num_ctx,
                description=f"{m.details.parameter_size or ''} {m.details.quantization_level or ''}"
                if m.details
                else "",
            )
            for m in listed.models
        ]

    def list_models(self) -> list[ModelInfo]:
        return self._cache.get()

    @property
    def unavailable_reason(self) -> str | None:
        """Why the server offers no models right now (after ``list_models``)."""
        return self._cache.reason

    def native_tools(self, model: ModelInfo) -> bool:
        """Always true: the server knows whether the model takes tools, and
        says so by refusing the request (a clear ``ErrorEvent``)."""
        return True

    def context_window(self, model: ModelInfo) -> int:
        return self.config.num_ctx

    def count_tokens(self, model: ModelInfo, messages: list[ChatMessage]) -> list[int]:
        return estimate_tokens(messages)

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[RuntimeEvent]:
        start = time.perf_counter()
        try:
            yield from self._generate(request, cancel, start)
        except Exception as err:
            message = describe_error(self.config.host, request.model.name, err)
            yield ErrorEvent(message, title=ModelError.title)
            yield Done("error")

    def _generate(
        self, request: GenerationRequest, cancel: threading.Event, start: float
    ) -> Iterator[RuntimeEvent]:
        params = request.params
        options: dict[str, Any] = {
            "num_ctx": self.context_window(request.model),
            "num_predict": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.seed is not None:
            options["seed"] = params.seed
        if params.stop:
            options["stop"] = list(params.stop)
        chunks = self._client(self.config.timeout_s).chat(
            model=request.model.name,
            messages=[{"role": m.role, "content": m.content} for m in request.messages],
            stream=True,
            options=options,
            format=json.loads(params.json_schema) if params.json_schema else None,
            tools=request.tools or None,
        )
        first: float | None = None
        final: Any = None
        stop_reason = "stop"
        calls: list[ToolCallEvent] = []
        for chunk in chunks:
            text = chunk.message.content if chunk.message else None
            if text:
                first = first or time.perf_counter()
                yield TextDelta(text)
            if chunk.message and chunk.message.tool_calls:
                first = first or time.perf_counter()
                try:
                    calls += ollama_calls(chunk.message.tool_calls, len(calls))
                except ModelError as err:
                    getattr(chunks, "close", lambda: None)()
                    yield ErrorEvent(f"the Ollama server at {self.config.host}: {err}", err.title)
                    yield Done("error")
                    return
            if chunk.done:
                final = chunk
                stop_reason = "length" if chunk.done_reason == "length" else "stop"
            if cancel.is_set():
                stop_reason = "cancelled"
                break
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        end = time.perf_counter()
        if stop_reason != "cancelled":
            yield from calls
        prompt = final.prompt_eval_count if final is not None else None
        produced = final.eval_count if final is not None else None
        yield Usage(
            prompt_tokens=prompt if prompt is not None else sum(estimate_tokens(request.messages)),
            completion_tokens=produced or 0,
            ttft_ms=((first or end) - start) * 1000,
            total_ms=(end - start) * 1000,
            prefill_tok_s=_rate(prompt, final.prompt_eval_duration if final else None),
            decode_tok_s=_rate(produced, final.eval_duration if final else None),
        )
        yield Done("tool_calls" if calls and stop_reason != "cancelled" else stop_reason)


def create_ollama_runtime(settings: Settings, locations: Locations) -> OllamaRuntime:
    return OllamaRuntime(settings, locations)
