"""A 60-turn conversation on the bundled SmolLM2 keeps working and keeps its
thread: old turns are folded into a summary by the model itself, and a fact
stated at turn 2 reaches the prompt at turn 60 (through the summary or the
past-chats source, which searches the turns the summary stands for).

The window is 768 tokens (so several folds happen in 60 turns) and replies
are 12 tokens (so the test stays short); what the 135M model answers is not
the assertion, that the fact is put in front of it is."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend import Backend
from backend.common.config import GenerationSettings, Settings
from backend.common.events import HistorySummarised, HistoryTrimmed, MessageSaved, RuntimeEvent
from backend.common.locations import Locations
from backend.modelfiles.catalog import BUNDLED_MODEL_NAME
from backend.runtimes.base import GenerationRequest
from backend.runtimes.llamacpp import LlamaCppRuntime

pytestmark = pytest.mark.real_model

FACT = "My cat is called Pixelbob and she is nine years old."
TOPICS = ["tea", "bikes", "rain", "maps", "jazz", "chess", "bread", "boats", "kites", "stars"]


class Recording(LlamaCppRuntime):
    """The real runtime, remembering each request's prompt."""

    def __init__(self, settings: Settings, locations: Locations) -> None:
        super().__init__(settings, locations)
        self.prompts: list[GenerationRequest] = []

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[RuntimeEvent]:
        self.prompts.append(request)
        return super().stream(request, cancel)


async def test_sixty_turns_keep_the_thread(tmp_path: Path) -> None:
    settings = Settings(
        default_model=BUNDLED_MODEL_NAME,
        generation=GenerationSettings(max_tokens=12, temperature=0.0, seed=1),
    )
    settings.llama.n_ctx = 768
    settings.tools.enabled = False  # a tool decision per turn would evict the cached prefix
    locations = Locations(tmp_path / "home")
    runtime = Recording(settings, locations.ensure())
    b = await Backend.open(locations=locations, settings=settings, runtimes=[runtime])
    try:
        cid = None
        summarised: list[HistorySummarised] = []
        trimmed: list[HistoryTrimmed] = []
        turns = ["Hello! Let us chat about small things today.", FACT]
        turns += [f"Tell me one short thing about {TOPICS[i % 10]}, please." for i in range(57)]
        for text in turns:
            stream = await b.chat.send(cid, text)
            cid = stream.conversation_id
            events = await stream.collect()
            summarised += [e for e in events if isinstance(e, HistorySummarised)]
            trimmed += [e for e in events if isinstance(e, HistoryTrimmed)]
            assert isinstance(events[-1], MessageSaved) and events[-1].stop_reason != "error"
        assert cid is not None
        assert len(summarised) >= 2 and not trimmed, "old turns folded, none dropped"
        summary = await b.conversations.conversation_summary(cid)
        assert summary is not None and summary.content.strip()
        assert b.core.chats.wait_idle(120)  # the background index caught up

        stream = await b.chat.send(cid, "What did I say about my cat?")
        events = await stream.collect()
        saved = events[-1]
        assert isinstance(saved, MessageSaved) and saved.stop_reason != "error"
        assert saved.content.strip(), "the 60th turn gets a reply"
        prompt = "\n".join(m.content for m in runtime.prompts[-1].messages)
        assert "Pixelbob" in prompt, "the turn-2 fact reaches the turn-60 prompt"
        assert FACT not in "\n".join(m.content for m in runtime.prompts[-1].messages[1:-1]), (
            "the fact came from the summary or the chats source, not from kept history"
        )
        thread = await b.conversations.thread(cid)
        assert len(thread) == 120
    finally:
        await b.close()
