"""Models served by OpenAI-compatible servers (``/v1/chat/completions``).

Design choices, and why:

* **Configured, not discovered.** Each ``[[openai_endpoints]]`` entry is a
  server; its models are named ``<endpoint>/<model id>`` so they never clash
  with local GGUF names. ``models`` in the entry fixes the list; otherwise
  ``/v1/models`` is asked with a short timeout (``list_timeout_s``) and the
  answer cached (``remote_common.ModelCache``). An unreachable server offers
  no models and says why in ``unavailable_reason``; it never raises and
  never holds up start-up. With no endpoints configured nothing is imported
  (the ``openai`` client costs ~0.5 s to import).
* **Keys are secrets.** The entry names a key (``api_key_name``); the key is
  read from the OS keyring through ``backend.common.secrets.get_secret`` (keyring,
  else a 0600 file). ``ASSISTANT_OPENAI_API_KEY`` overrides it for every
  endpoint (CI, one-off runs). Keys never appear in errors or logs.
* **Usage.** ``stream_options={"include_usage": True}`` asks for token
  counts in the last chunk; servers that ignore it (llama-cpp-python's) get
  an estimate instead: prompt tokens from ``estimate_tokens`` and one
  completion token per streamed content chunk (those servers send one chunk
  per token). TTFT, total time and decode speed are measured here.
* **Native tools** (``backend.runtimes.remote_tools``): ``native_tools`` is
  true for every model -- the server decides whether the model takes tools,
  and a refusal comes back as a clear ``ErrorEvent``. ``request.tools`` is
  sent as ``tools=``; streamed call deltas are joined and parsed at the end
  and become ``ToolCallEvent``s (then ``Done("tool_calls")``).
* **Errors** become ``ErrorEvent``s with ``ModelError``'s title and a
  message naming the endpoint: unreachable, key rejected (401/403), unknown
  model (404), other HTTP errors with the server's own message.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from backend.common.config import OpenAIEndpoint, Settings
from backend.common.errors import ModelError
from backend.common.events import Done, ErrorEvent, RuntimeEvent, TextDelta, ToolCallEvent, Usage
from backend.common.locations import Locations
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import ChatMessage, GenerationRequest, Runtime
from backend.runtimes.remote_common import ModelCache, estimate_tokens
from backend.runtimes.remote_tools import StreamedCalls, openai_tool_choice, tools_rejected

RUNTIME_NAME = "openai"
KEY_ENV = "ASSISTANT_OPENAI_API_KEY"
NO_KEY = "not-needed"  # the client insists on a key; local servers ignore it


def read_api_key(name: str | None, locations: Locations | None = None) -> str | None:
    """The key for an endpoint: the env override, else the named secret."""
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV]
    if name is None:
        return None
    from backend.common.secrets import get_secret

    return get_secret(name, locations)


def describe_error(
    endpoint: OpenAIEndpoint, model_id: str, err: Exception, tools: bool = False
) -> str:
    """A user-facing message for a failed call; ``tools``: the request
    offered tools, so a status error other than auth/404 is read as the
    server refusing them."""
    import openai

    where = f"endpoint {endpoint.name!r} ({endpoint.base_url})"
    if isinstance(err, openai.APITimeoutError):
        return f"{where} did not answer in time"
    if isinstance(err, openai.APIConnectionError):
        return f"cannot reach {where}: is the server running?"
    if isinstance(err, openai.AuthenticationError | openai.PermissionDeniedError):
        key = endpoint.api_key_name
        hint = f"check the secret {key!r}" if key else "set api_key_name in its config entry"
        return f"{where} rejected the API key ({err.status_code}); {hint}"
    if isinstance(err, openai.NotFoundError):
        return f"{where} has no model {model_id!r} (404)"
    if isinstance(err, openai.APIStatusError):
        if tools:
            return tools_rejected(where, model_id, f"HTTP {err.status_code}: {err.message}")
        return f"{where} answered HTTP {err.status_code}: {err.message}"
    return f"{where} failed: {type(err).__name__}: {err}"


class OpenAICompatRuntime(Runtime):
    """Chat through every configured OpenAI-compatible endpoint."""

    name = RUNTIME_NAME

    def __init__(self, settings: Settings, locations: Locations | None = None) -> None:
        self.locations = locations
        self.endpoints = [e for e in settings.openai_endpoints if e.enabled]
        self.supports_json_schema = any(e.json_schema != "none" for e in self.endpoints)
        self._caches = {e.name: ModelCache(self._fetcher(e)) for e in self.endpoints}

    # -- catalog ---------------------------------------------------------

    def _client(self, endpoint: OpenAIEndpoint, timeout: float) -> Any:
        import openai

        key = read_api_key(endpoint.api_key_name, self.locations) or NO_KEY
        return openai.OpenAI(
            base_url=endpoint.base_url, api_key=key, timeout=timeout, max_retries=0
        )

    def _info(self, endpoint: OpenAIEndpoint, model_id: str) -> ModelInfo:
        return ModelInfo(
            name=f"{endpoint.name}/{model_id}",
            runtime=self.name,
            source=endpoint.base_url,
            context_length=endpoint.context_length,
            description=f"{model_id} on {endpoint.name}",
        )

    def _fetcher(self, endpoint: OpenAIEndpoint) -> Any:
        def fetch() -> list[ModelInfo]:
            if endpoint.models:
                return [self._info(endpoint, m) for m in endpoint.models]
            try:
                page = self._client(endpoint, endpoint.list_timeout_s).models.list()
                return [self._info(endpoint, m.id) for m in page.data]
            except Exception as err:
                raise ModelError(describe_error(endpoint, "", err)) from None

        return fetch

    def list_models(self) -> list[ModelInfo]:
        return [m for e in self.endpoints for m in self._caches[e.name].get()]

    @property
    def unavailable_reason(self) -> str | None:
        """Why some endpoint offers no models right now (after ``list_models``),
        or None when every endpoint answered."""
        reasons = [c.reason for c in self._caches.values() if c.reason]
        return "; ".join(reasons) or None

    def _split(self, model: ModelInfo) -> tuple[OpenAIEndpoint, str]:
        prefix, _, model_id = model.name.partition("/")
        for e in self.endpoints:
            if e.name == prefix and model_id:
                return e, model_id
        raise ModelError(f"model {model.name!r} belongs to no configured OpenAI endpoint")

    def native_tools(self, model: ModelInfo) -> bool:
        """Always true: the server knows whether the model takes tools, and
        says so by refusing the request (a clear ``ErrorEvent``)."""
        return True

    def context_window(self, model: ModelInfo) -> int:
        return model.context_length or self._split(model)[0].context_length

    def count_tokens(self, model: ModelInfo, messages: list[ChatMessage]) -> list[int]:
        return estimate_tokens(messages)

    # -- generation ------------------------------------------------------

    @staticmethod
    def _response_format(endpoint: OpenAIEndpoint, schema_text: str | None) -> Any:
        if schema_text is None or endpoint.json_schema == "none":
            return None
        schema = json.loads(schema_text)
        if endpoint.json_schema == "json_object":
            return {"type": "json_object", "schema": schema}
        return {
            "type": "json_schema",
            "json_schema": {"name": "reply", "schema": schema, "strict": True},
        }

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[RuntimeEvent]:
        start = time.perf_counter()
        try:
            endpoint, model_id = self._split(request.model)
        except ModelError as err:
            yield ErrorEvent(str(err), title=err.title)
            yield Done("error")
            return
        try:
            yield from self._generate(endpoint, model_id, request, cancel, start)
        except Exception as err:
            message = describe_error(endpoint, model_id, err, tools=bool(request.tools))
            yield ErrorEvent(message, title=ModelError.title)
            yield Done("error")

    def _generate(
        self,
        endpoint: OpenAIEndpoint,
        model_id: str,
        request: GenerationRequest,
        cancel: threading.Event,
        start: float,
    ) -> Iterator[RuntimeEvent]:
        params = request.params
        kwargs: dict[str, Any] = {
            "model": model_id,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if params.stop:
            kwargs["stop"] = list(params.stop)
        response_format = self._response_format(endpoint, params.json_schema)
        if response_format is not None:
            kwargs["response_format"] = response_format
        if request.tools:
            kwargs["tools"] = request.tools
            kwargs["tool_choice"] = openai_tool_choice(request.tools, request.tool_choice)
        client = self._client(endpoint, endpoint.timeout_s)
        chunks = client.chat.completions.create(**kwargs)
        first: float | None = None
        last = start
        pieces = 0
        reported: Any = None
        stop_reason = "stop"
        calls = StreamedCalls()
        try:
            for chunk in chunks:
                if chunk.usage is not None:
                    reported = chunk.usage
                for choice in chunk.choices or ():
                    text = choice.delta.content if choice.delta else None
                    if text:
                        last = time.perf_counter()
                        first = first or last
                        pieces += 1
                        yield TextDelta(text)
                    if choice.delta and choice.delta.tool_calls:
                        last = time.perf_counter()
                        first = first or last
                        pieces += 1
                        calls.add(choice.delta.tool_calls)
                    if choice.finish_reason:
                        stop_reason = "length" if choice.finish_reason == "length" else "stop"
                if cancel.is_set():
                    stop_reason = "cancelled"
                    break
        finally:
            chunks.close()
        end = time.perf_counter()
        events: list[ToolCallEvent] = []
        if calls and stop_reason != "cancelled":
            try:
                events = calls.events()
            except ModelError as err:
                yield ErrorEvent(f"endpoint {endpoint.name!r}: {err}", title=err.title)
                yield Done("error")
                return
        yield from events
        if reported is not None:
            prompt, produced = int(reported.prompt_tokens), int(reported.completion_tokens)
        else:
            prompt, produced = sum(estimate_tokens(request.messages)), pieces
        decode_s = last - (first or last)
        yield Usage(
            prompt_tokens=prompt,
            completion_tokens=produced,
            ttft_ms=((first or end) - start) * 1000,
            total_ms=(end - start) * 1000,
            decode_tok_s=(produced - 1) / decode_s if produced > 1 and decode_s > 0 else None,
        )
        yield Done("tool_calls" if events else stop_reason)


def create_openai_runtime(settings: Settings, locations: Locations) -> OpenAICompatRuntime:
    return OpenAICompatRuntime(settings, locations)
