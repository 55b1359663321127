"""A deterministic runtime for fast unit tests of the chat loop.

It "generates" a reply derived from the last user message, word by word,
honours cancellation and ``max_tokens``, and reports usage like a real
runtime. ``delay_s`` slows each token so tests can stop a reply mid-stream.
Token counting is one token per whitespace-separated word plus 4 tokens of
framing per message, which keeps trimming tests exact.

``decider`` makes it a runtime that "supports JSON schema": a request with
``params.json_schema`` (a hidden tool decision) is answered by
``decider(request)`` instead, so tests script which tool is called with
which arguments, and the chat loop's tool path runs without a model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from backend.common.events import Done, ErrorEvent, RuntimeEvent, TextDelta, Usage
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import ChatMessage, GenerationRequest, Runtime

FRAMING_TOKENS = 4


class FakeRuntime(Runtime):
    name = "fake"

    def __init__(
        self,
        *,
        models: tuple[str, ...] = ("fake-model",),
        context: int = 4096,
        delay_s: float = 0.0,
        reply_words: int = 0,
        fail_with: str | None = None,
        responder: Callable[[list[ChatMessage]], str] | None = None,
        decider: Callable[[GenerationRequest], str] | None = None,
    ) -> None:
        """``responder`` scripts the reply from the prompt (e.g. an answer
        citing ``[S1]``); by default the reply echoes the last user turn."""
        self.models = models
        self.context = context
        self.delay_s = delay_s
        self.reply_words = reply_words
        self.fail_with = fail_with
        self.responder = responder
        self.decider = decider
        self.supports_json_schema = decider is not None
        self.requests: list[GenerationRequest] = []

    def list_models(self) -> list[ModelInfo]:
        return [
            ModelInfo(name=m, runtime=self.name, source="test", context_length=self.context)
            for m in self.models
        ]

    def context_window(self, model: ModelInfo) -> int:
        return self.context

    def count_tokens(self, model: ModelInfo, messages: list[ChatMessage]) -> list[int]:
        return [len(m.content.split()) + FRAMING_TOKENS for m in messages]

    def reply_for(self, messages: list[ChatMessage]) -> list[str]:
        if self.responder is not None:
            return self.responder(messages).split(" ")
        last = next((m.content for m in reversed(messages) if m.role == "user"), "")
        words = ["Echo:", *last.split()]
        if self.reply_words:
            words += [f"w{i}" for i in range(self.reply_words)]
        return words

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[RuntimeEvent]:
        self.requests.append(request)
        start = time.perf_counter()
        if self.fail_with:
            yield ErrorEvent(self.fail_with)
            yield Done("error")
            return
        prompt_tokens = sum(self.count_tokens(request.model, request.messages))
        if request.params.json_schema is not None and self.decider is not None:
            words = self.decider(request).split(" ")
        else:
            words = self.reply_for(request.messages)
        first: float | None = None
        produced = 0
        stop = "stop"
        for i, word in enumerate(words):
            if cancel.is_set():
                stop = "cancelled"
                break
            if produced >= request.params.max_tokens:
                stop = "length"
                break
            if self.delay_s:
                time.sleep(self.delay_s)
            if first is None:
                first = time.perf_counter()
            produced += 1
            yield TextDelta(word if i == 0 else " " + word)
        end = time.perf_counter()
        ttft = ((first or end) - start) * 1000
        total = (end - start) * 1000
        decode_s = max(end - (first or end), 1e-9)
        yield Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=produced,
            ttft_ms=ttft,
            total_ms=total,
            prefill_tok_s=None,
            decode_tok_s=produced / decode_s if produced > 1 else None,
        )
        yield Done(stop)
