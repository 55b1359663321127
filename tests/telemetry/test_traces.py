"""Chat turns as OpenTelemetry traces, checked at a loopback OTLP/HTTP
receiver (``otlp_receiver``): span tree, parent links, GenAI attributes,
content only when ``capture_content`` says so.

The grounded answer runs the bundled SmolLM2 (in-process llama.cpp) over a
real MiniLM index, with a stand-in reranker and a forced rewrite so every
RAG stage has a span; the other tests use the fake runtime.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend import Backend
from backend.common.config import (
    GenerationSettings,
    RagSettings,
    Settings,
    TelemetrySettings,
    ToolsSettings,
)
from backend.common.locations import Locations
from backend.knowledge.records import DocumentHit
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import ChatMessage
from backend.runtimes.fake import FakeRuntime
from backend.runtimes.llamacpp import LlamaCppRuntime
from tests.telemetry.otlp_receiver import OtlpReceiver, ReceivedSpan

DOCS = {
    "cats.md": "# Cats\n\nCats sleep between twelve and sixteen hours a day.\n",
    "tax.md": "# Taxes\n\nThe income tax return is due on the thirtieth of April.\n",
}
CONTENT = {
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.retrieval.query.text",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
}


@pytest.fixture
def receiver() -> AsyncIterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


def docs(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (root / name).write_text(text)
    return root


def by_name(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.name == name]


def children(spans: list[ReceivedSpan], parent: ReceivedSpan) -> list[str]:
    return sorted(s.name for s in spans if s.parent_span_id == parent.span_id)


class KeepOrder:
    """A stand-in second stage (the LLM reranker on the bundled model took
    ~60 s of this test on a loaded 2-core machine; its scoring is tested in
    tests/rag): the ``rerank`` span comes from the pipeline, not the reranker."""

    name = "keep-order"

    def rerank(self, query: str, hits: list[DocumentHit]) -> list[DocumentHit]:
        return list(hits)


@pytest.mark.real_model
async def test_grounded_answer_arrives_as_a_trace(
    tmp_path: Path,
    locations: Locations,
    receiver: OtlpReceiver,
    smollm2: tuple[LlamaCppRuntime, ModelInfo],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime, model = smollm2
    monkeypatch.setattr("backend.rag.pipeline.build_reranker", lambda *a, **k: KeepOrder())
    settings = Settings(
        default_model=model.name,
        rag=RagSettings(reranker="llm", rewrite="always", candidates=6, top_k=3),
        generation=GenerationSettings(max_tokens=48),
        tools=ToolsSettings(enabled=False),
        telemetry=TelemetrySettings(otlp_endpoint=receiver.url, service_name="assistant-test"),
    )
    backend = await Backend.open(locations=locations, settings=settings, runtimes=[runtime])
    try:
        await backend.documents.add_folder(str(docs(tmp_path / "docs")))
        await backend.documents.index()
        conv = await backend.conversations.create_conversation()
        events = await (await backend.chat.send(conv.id, "How long do cats sleep?")).collect()
        assert type(events[-1]).__name__ == "MessageSaved"
    finally:
        await backend.close()  # flushes the batch processor
    spans = receiver.wait_for("chat")

    (root,) = by_name(spans, "chat")
    assert root.parent_span_id == ""
    assert {s.trace_id for s in spans} == {root.trace_id}
    assert root.resource["service.name"] == "assistant-test"
    assert root.scope_schema_url == "https://opentelemetry.io/schemas/1.41.0"
    assert root.attributes["gen_ai.conversation.id"] == str(conv.id)
    assert root.attributes["assistant.grounded"] is True
    # the turn: retrieval (rerank inside it), the rewrite (its own search
    # inside it), then the reply
    assert children(spans, root) == ["generate", "retrieve", "rewrite"]
    first = next(s for s in by_name(spans, "retrieve") if s.parent_span_id == root.span_id)
    assert children(spans, first) == ["rerank"]
    assert by_name(spans, "rerank")[0].attributes["assistant.reranker"] == "keep-order"
    (rewrite,) = by_name(spans, "rewrite")
    assert children(spans, rewrite) in (["retrieve"], [])  # [] when the rewrite came back empty
    assert first.start_ns < rewrite.start_ns

    (gen,) = by_name(spans, "generate")
    a = gen.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "llamacpp"
    assert a["gen_ai.request.model"] == model.name == "smollm2-135m-instruct"
    assert a["gen_ai.request.temperature"] == settings.generation.temperature
    assert a["gen_ai.request.max_tokens"] == settings.generation.max_tokens
    assert a["gen_ai.usage.input_tokens"] > 50  # the sources travel with the question
    assert a["gen_ai.usage.output_tokens"] >= 1
    ttft = a["gen_ai.response.time_to_first_chunk"]
    assert 0 < ttft < (gen.end_ns - gen.start_ns) / 1e9
    assert a["gen_ai.response.finish_reasons"][0] in ("stop", "length")
    assert gen.kind == 3  # SPAN_KIND_CLIENT
    assert root.start_ns <= first.start_ns and gen.end_ns <= root.end_ns
    # the rewrite is a model call too
    assert rewrite.attributes["gen_ai.operation.name"] == "chat"
    assert rewrite.attributes["gen_ai.request.temperature"] == 0.0
    assert rewrite.attributes["gen_ai.usage.output_tokens"] >= 1
    # the same numbers as the request log
    rows = await _request_log(locations, settings, runtime, conv.id)
    generate_row = next(r for r in rows if r.stage == "generate")
    assert a["gen_ai.usage.output_tokens"] == generate_row.completion_tokens
    # no text left the process
    assert not any(CONTENT & s.attributes.keys() for s in spans)


async def _request_log(
    locations: Locations, settings: Settings, runtime: LlamaCppRuntime, conv_id: int
) -> list:  # type: ignore[type-arg]
    settings = settings.model_copy(update={"telemetry": TelemetrySettings()})
    backend = await Backend.open(locations=locations, settings=settings, runtimes=[runtime])
    try:
        return await backend.telemetry.request_log(conversation_id=conv_id)
    finally:
        await backend.close()


@pytest.fixture
async def traced(
    locations: Locations, receiver: OtlpReceiver, request: pytest.FixtureRequest
) -> AsyncIterator[Backend]:
    capture = getattr(request, "param", False)
    calc = '{"tool": "calculator", "arguments": {"expression": "1234*5678"}}'
    runtime = FakeRuntime(decider=lambda _req: calc)
    settings = Settings(
        default_model="fake-model",
        telemetry=TelemetrySettings(
            otlp_endpoint=receiver.url + "/v1/traces",
            capture_content=capture,
            headers={"Authorization": "Basic dGVzdDp0ZXN0"},
        ),
    )
    backend = await Backend.open(locations=locations, settings=settings, runtimes=[runtime])
    yield backend
    await backend.close()


async def test_tool_calls_are_execute_tool_spans(traced: Backend, receiver: OtlpReceiver) -> None:
    await (await traced.chat.send(None, "what is 1234*5678")).collect()
    await traced.close()
    spans = receiver.wait_for("chat")
    (root,) = by_name(spans, "chat")
    assert children(spans, root) == ["execute_tool calculator", "generate", "tool_decision"]
    (tool,) = by_name(spans, "execute_tool calculator")
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "calculator"
    assert tool.attributes["gen_ai.tool.call.id"].endswith("-t1")
    assert tool.status_code == 0  # unset: it worked
    (decision,) = by_name(spans, "tool_decision")
    assert decision.attributes["gen_ai.provider.name"] == "fake"
    assert decision.end_ns <= tool.start_ns
    assert not any(CONTENT & s.attributes.keys() for s in spans)
    # the configured headers went with the export (Langfuse's basic auth)
    assert receiver.requests[0]["authorization"] == "Basic dGVzdDp0ZXN0"


async def test_a_failed_turn_marks_its_root_span_as_an_error(
    locations: Locations, receiver: OtlpReceiver
) -> None:
    """A reply that failed is an error in the trace at the root, where a
    trace viewer's list shows it, and at the stage that failed."""
    settings = Settings(
        default_model="fake-model",
        telemetry=TelemetrySettings(otlp_endpoint=receiver.url + "/v1/traces"),
        tools=ToolsSettings(enabled=False),
    )
    runtime = FakeRuntime(fail_with="the model ran out of memory")
    backend = await Backend.open(locations=locations, settings=settings, runtimes=[runtime])
    try:
        await (await backend.chat.send(None, "hello")).collect()
    finally:
        await backend.close()
    spans = receiver.wait_for("chat")
    (root,) = by_name(spans, "chat")
    (gen,) = by_name(spans, "generate")
    assert root.status_code == 2 and gen.status_code == 2  # STATUS_CODE_ERROR
    assert root.attributes["error.type"] == "generation_error"


async def test_a_served_api_request_is_traced_like_a_turn(
    traced: Backend, receiver: OtlpReceiver
) -> None:
    """``assistant serve``'s OpenAI/Ollama requests go through the
    completions service: each is a trace with a ``generate`` span, marked as
    an API call, with no conversation (nothing is stored)."""
    stream = await traced.completions.complete_messages([ChatMessage("user", "Say hi")])
    await stream.collect()
    await traced.close()
    spans = receiver.wait_for("chat")
    (root,) = by_name(spans, "chat")
    assert root.attributes["assistant.api"] is True
    assert "gen_ai.conversation.id" not in root.attributes
    (gen,) = by_name(spans, "generate")
    assert gen.parent_span_id == root.span_id
    assert gen.attributes["gen_ai.request.model"] == "fake-model"
    assert gen.attributes["gen_ai.usage.output_tokens"] > 0
    assert gen.attributes["gen_ai.response.finish_reasons"] == ["stop"]


@pytest.mark.parametrize("traced", [True], indirect=True)
async def test_capture_content_sends_prompt_reply_and_tool_io(
    traced: Backend, receiver: OtlpReceiver
) -> None:
    await (await traced.chat.send(None, "what is 1234*5678")).collect()
    await traced.close()
    spans = receiver.wait_for("chat")
    (gen,) = by_name(spans, "generate")
    assert "what is 1234*5678" in gen.attributes["gen_ai.input.messages"]
    assert '"role": "assistant"' in gen.attributes["gen_ai.output.messages"]
    (tool,) = by_name(spans, "execute_tool calculator")
    assert "1234*5678" in tool.attributes["gen_ai.tool.call.arguments"]
    assert "7006652" in tool.attributes["gen_ai.tool.call.result"]


async def test_unreachable_endpoint_is_quiet(
    locations: Locations, capfd: pytest.CaptureFixture[str]
) -> None:
    """A collector that is not there costs nothing visible: the reply
    arrives, stderr stays empty, close returns promptly, and the failure is
    in logs/telemetry.log."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    settings = Settings(
        default_model="fake-model",
        telemetry=TelemetrySettings(otlp_endpoint=f"http://127.0.0.1:{port}"),
    )
    backend = await Backend.open(locations=locations, settings=settings, runtimes=[FakeRuntime()])
    events = await (await backend.chat.send(None, "hello there")).collect()
    assert type(events[-1]).__name__ == "MessageSaved"
    started = time.monotonic()
    await backend.close()
    assert time.monotonic() - started < 10
    assert capfd.readouterr().err == ""
    log = (locations.logs / "telemetry.log").read_text()
    assert "Failed to export spans" in log


def test_no_sdk_without_an_endpoint(tmp_path: Path) -> None:
    """Tracing off (the default): a whole turn runs without importing the
    OpenTelemetry SDK or exporter."""
    code = (
        "import asyncio, sys\n"
        "from backend import Backend\n"
        "from backend.common.config import Settings\n"
        "from backend.common.locations import Locations\n"
        "from backend.runtimes.fake import FakeRuntime\n"
        "from tests.fake_embedder import FakeEmbedder\n"
        "async def main():\n"
        f"    b = await Backend.open(locations=Locations.from_path({str(tmp_path)!r}),"
        " settings=Settings(default_model='fake-model'), runtimes=[FakeRuntime()],"
        " embedder=FakeEmbedder())\n"
        "    await (await b.chat.send(None, 'hi')).collect()\n"
        "    await b.close()\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')"
        " or m.startswith('opentelemetry.exporter')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
