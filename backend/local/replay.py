"""Run a logged request again and compare (``assistant replay ID``).

The replay sends the logged messages -- the rendering of the logged prompt
versions, byte for byte -- with the logged generation parameters to the same
model file and adapter, through the runtime that serves the model's name
today. What could make it differ is said, not guessed at: a model file
whose hash changed, an adapter that changed, sampling without a seed; a
missing model or adapter file is an error. Built-in prompts that have
changed since are listed too (the replay still uses the logged text, so the
comparison isolates the model).

The KV cache is cleared first: llama.cpp reusing a cached prefix (the
whole prompt, when the same request ran just before) computes the last
prompt token alone instead of in a batch, which changes the arithmetic's
last digits, and on the bundled model that was enough to change a greedy
reply after a few dozen tokens. A cold replay reproduces a reply that was
computed cold (every ``ask``, the first turn of a chat); one whose original
reused a cached prefix says so in its notes.

Hidden calls (condense, rewrite, summarise, tool decisions) keep their
inputs like replies do, so they replay the same way; a native tool decision's
calls are compared in the form it logged them (its text, then each call as
``{"name", "arguments"}`` JSON).

The replay is itself logged (stage ``replay``, under the original row) with
its inputs, and linked to no prompt version, so it does not count as a use.
"""

from __future__ import annotations

import difflib
import json
import threading
from dataclasses import fields, replace
from pathlib import Path
from typing import Literal

from backend.chat.prompt_catalog import builtin_prompts
from backend.common.errors import ModelError, NotFoundError
from backend.common.events import Done, ErrorEvent, TextDelta, ToolCallEvent, Usage
from backend.local.core import Core
from backend.local.models import ModelService
from backend.runtimes.base import ChatMessage, GenerationParams, GenerationRequest
from backend.store.prompt_versions import text_sha256
from backend.store.records import ReplayResult, RequestDetail
from backend.store.request_inputs import RunInputs


def params_from(logged: dict[str, object]) -> GenerationParams:
    known = {f.name for f in fields(GenerationParams)}
    values = {k: v for k, v in logged.items() if k in known}
    if isinstance(values.get("stop"), list):
        values["stop"] = tuple(values["stop"])  # type: ignore[arg-type]
    return GenerationParams(**values)  # type: ignore[arg-type]


def sampling_of(params: GenerationParams) -> str:
    if params.temperature == 0:
        return "greedy"
    return "seeded" if params.seed is not None else "sampled"


def text_diff(original: str, replayed: str, request_id: int) -> str:
    if original == replayed:
        return ""
    lines = difflib.unified_diff(
        original.splitlines(keepends=True),
        replayed.splitlines(keepends=True),
        fromfile=f"request {request_id}",
        tofile="replay",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


class Replayer:
    def __init__(self, core: Core, models: ModelService) -> None:
        self._core = core
        self._models = models

    def detail(self, request_id: int) -> RequestDetail:
        detail = self._core.stores.requests.detail(request_id)
        if detail is None:
            raise NotFoundError(f"no request {request_id} in the log")
        return detail

    def replay(self, request_id: int) -> ReplayResult:
        """Raises: NotFoundError, ValueError (nothing to replay), ModelError."""
        detail = self.detail(request_id)
        if detail.model_name is None:
            raise ValueError(
                f"request {request_id} has no logged inputs (a stage that called no model, "
                "or a row logged before its inputs were recorded)"
            )
        if detail.messages is None:
            raise ValueError(
                f"the text of request {request_id} was not kept ([log] keep_full_text = false) "
                "or has been purged: it cannot be replayed"
            )
        try:
            runtime, model = self._models.resolve(detail.model_name)
        except ModelError as err:
            raise ModelError(
                f"cannot replay request {request_id}: its model {detail.model_name!r} "
                f"is missing ({err})"
            ) from None
        notes: list[str] = []
        hashes = self._core.stores.requests.inputs.hashes
        now_sha = None
        changed = False
        if detail.model_path is not None:
            path = Path(detail.model_path)
            if not path.is_file():
                raise ModelError(
                    f"cannot replay request {request_id}: its model file {path} is missing"
                )
            if model.path is not None and Path(model.path) != path:
                notes.append(f"{detail.model_name!r} is now {model.path}; replayed the logged file")
            now_sha = hashes.sha256(path)
            if detail.model_sha256 is None:
                changed = True
                notes.append(
                    "the model file changed after the request was logged, before it was "
                    "hashed: it may not be the same model"
                )
            elif now_sha != detail.model_sha256:
                changed = True
                notes.append(
                    f"the model file has changed: sha256 {detail.model_sha256[:12]} then, "
                    f"{(now_sha or '?')[:12]} now"
                )
            model = replace(model, path=path)
        adapter = Path(detail.adapter_path) if detail.adapter_path else None
        if adapter is not None:
            if not adapter.is_file():
                raise ModelError(
                    f"cannot replay request {request_id}: its adapter {adapter} is missing"
                )
            if hashes.sha256(adapter) != detail.adapter_sha256:
                changed = True
                notes.append(f"the adapter {adapter} has changed since")
        if model.adapter is not None and model.adapter != adapter:
            notes.append(f"replayed without today's active adapter {model.adapter}")
        model = replace(model, adapter=adapter)
        params = params_from(detail.params)
        sampling = sampling_of(params)
        if sampling == "sampled":
            notes.append(
                f"sampled at temperature {params.temperature} without a seed: "
                "a different reply is expected"
            )
        current = builtin_prompts()
        for ref in detail.prompts:
            text = current.get(ref.name)
            if text is not None and text_sha256(text) != ref.sha256:
                notes.append(f"{ref.name} has changed since (the replay sends the logged text)")

        messages = [ChatMessage(m.role, m.content) for m in detail.messages]  # type: ignore[arg-type]
        tools = json.loads(detail.tools) if detail.tools else None
        choice: Literal["auto", "required"] = (
            "required" if detail.params.get("tool_choice") == "required" else "auto"
        )
        request = GenerationRequest(model, messages, params, tools=tools, tool_choice=choice)
        parts: list[str] = []
        calls: list[str] = []
        usage: Usage | None = None
        error: str | None = None
        stop = "error"
        cached = detail.request.cached_tokens or 0
        if cached:
            notes.append(
                f"the original reused {cached} cached prompt tokens of the turn before; the "
                "replay processes the whole prompt, which can change the arithmetic's last "
                "digits and, rarely, a greedy reply"
            )
        reset = getattr(runtime, "reset_cache", None)
        with self._core.generating():
            if callable(reset):
                reset()  # a cold prompt, as the first reply of a fresh worker had
            for event in runtime.stream(request, threading.Event()):
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                elif isinstance(event, ToolCallEvent):  # as a native tool decision logs them
                    calls.append(json.dumps({"name": event.name, "arguments": event.arguments}))
                elif isinstance(event, Usage):
                    usage = event
                elif isinstance(event, ErrorEvent):
                    error = event.message
                elif isinstance(event, Done):
                    stop = event.stop_reason
        replayed = "".join(parts) + "".join(calls)
        replay_id = self._core.stores.requests.record(
            runtime=runtime.name,
            model=model.log_name,
            usage=usage,
            stop_reason="error" if error else stop,
            error=error,
            stage="replay",
            parent_request_id=request_id,
            inputs=RunInputs(
                model_name=model.name,
                model_path=model.path,
                params=detail.params,
                messages=[(m.role, m.content) for m in messages],
                output=replayed,
                adapter_path=adapter,
                tools=tools,
            ),
        )
        if error is not None:
            raise ModelError(f"the replay failed: {error}")
        original = detail.output or ""
        return ReplayResult(
            request_id=request_id,
            replay_request_id=replay_id,
            model=model.log_name,
            sampling=sampling,
            original=original,
            replayed=replayed,
            identical=original == replayed,
            diff=text_diff(original, replayed, request_id),
            model_sha256_then=detail.model_sha256,
            model_sha256_now=now_sha,
            model_changed=changed,
            notes=tuple(notes),
            ttft_ms=usage.ttft_ms if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
        )
