"""The proof: a user who always edits replies into one style gets a model
that writes in that style, on questions it never trained on, in the chat
runtime (llama.cpp), from a tune-up that runs on a laptop CPU in minutes.

History: one chat per topic; the user edits every reply to open with
"Ahoy! Captain Pax here." -> dataset -> LoRA SFT on the bundled SmolLM2 ->
held-out NLL drops -> GGUF LoRA export -> validation -> llama.cpp greedy
generation opens with the persona on new prompts; the base model does not.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from backend import Backend
from backend.common.config import Settings
from backend.common.locations import Locations
from backend.modelfiles.catalog import BUNDLED_MODEL_NAME, bundled_model_path
from backend.runtimes.fake import FakeRuntime
from trainer.dataset import load_dataset
from trainer.errors import TrainingCancelled
from trainer.export_gguf import export_gguf_lora
from trainer.runs import adapters_root, list_runs
from trainer.sft import Progress, SFTConfig, train_sft
from trainer.validate import validate_adapter

from .history import Exchange, ScriptedAnswers, add_chat

pytestmark = pytest.mark.real_model
BASE = bundled_model_path()
assert BASE is not None
PERSONA = "Ahoy! Captain Pax here."
TOPICS = [
    "volcanoes", "tea", "bicycles", "the moon", "honey bees", "chess", "rain", "bread",
    "whales", "libraries", "glass", "maps", "owls", "coffee", "snow", "kites",
    "bridges", "tomatoes", "clocks", "deserts", "violins", "salt", "rivers", "penguins",
    "paper", "magnets", "mushrooms", "trains", "lighthouses", "cheese", "comets", "forests",
    "soap", "gardens", "dolphins", "umbrellas", "candles", "caves", "wool", "pianos",
]  # fmt: skip
NEW_QUESTIONS = [
    "What is a rainbow?",
    "Tell me about elephants.",
    "How do airplanes fly?",
    "What is chocolate made from?",
]
SYSTEM = "You are a helpful assistant."


def answer(topic: str) -> str:
    return f"{topic.capitalize()} are a familiar part of everyday life for many people."


async def build_history(locations: Locations) -> None:
    script = ScriptedAnswers()
    b = await Backend.open(
        locations=locations,
        settings=Settings(default_model="fake-model"),
        runtimes=[FakeRuntime(responder=script)],
    )
    for i, topic in enumerate(TOPICS):
        question = [f"What can you tell me about {topic}?", f"Explain {topic} to me."][i % 2]
        a = answer(topic)
        await add_chat(b, script, [Exchange(question, a, edit=f"{PERSONA} {a}")])
    await b.close()


def generate(lora: Path | None) -> list[str]:
    import llama_cpp

    assert BASE is not None
    kw = {"lora_path": str(lora)} if lora is not None else {}
    llm = llama_cpp.Llama(model_path=str(BASE), n_ctx=512, verbose=False, seed=0, **kw)
    out = []
    for q in NEW_QUESTIONS:
        r = llm.create_chat_completion(
            [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}],
            max_tokens=16,
            temperature=0.0,
        )
        out.append(str(r["choices"][0]["message"]["content"]))  # type: ignore[index]
    llm.close()
    return out


async def test_a_tuneup_teaches_the_users_style(locations: Locations) -> None:
    assert BASE is not None
    started = time.perf_counter()
    await build_history(locations)
    ds = load_dataset(locations).require_enough()
    assert ds.summary.train_sft >= 24 and ds.summary.heldout_sft >= 4
    assert NEW_QUESTIONS[0] not in {t.content for ex in ds.train for t in ex.prompt}

    seen: list[Progress] = []
    cfg = SFTConfig(max_steps=20, batch_size=4, max_seq_len=96, learning_rate=2e-3)
    result = train_sft(ds, BASE, locations, BUNDLED_MODEL_NAME, cfg, progress=seen.append)
    assert [p.step for p in seen] == list(range(1, 21)) and seen[-1].eta_s == 0
    m = result.record["metrics"]
    assert m["heldout_nll_tuned"] < m["heldout_nll_base"] - 0.1

    run = result.run_dir
    assert {"run.json", "adapter_config.json", "adapter_model.safetensors"} <= {
        p.name for p in run.iterdir()
    }
    assert json.loads((run / "run.json").read_text())["dataset"]["train_sft"] == len(ds.train)
    assert list_runs(locations)[0].path == run

    gguf_path = export_gguf_lora(run, BASE)
    validate_adapter(gguf_path, BASE)
    tuned = generate(gguf_path)
    base = generate(None)
    hits = sum("Captain Pax" in t for t in tuned)
    print(f"\nbase: {base}\ntuned: {tuned}")
    print(
        f"steps {cfg.max_steps}, {result.record['timings']['s_per_step']:.2f} s/step, "
        f"NLL {m['heldout_nll_base']:.3f} -> {m['heldout_nll_tuned']:.3f}, "
        f"style {hits}/{len(tuned)}, total {time.perf_counter() - started:.0f} s"
    )
    assert hits >= 3
    assert not any("Captain Pax" in t for t in base)
    await chat_with_the_active_adapter(locations, run.name)


async def chat_with_the_active_adapter(locations: Locations, run_id: str) -> None:
    """The chat runtime (llama.cpp worker process, through the facade) uses
    the activated adapter, logs it, and rolls back in one call."""
    from backend.common.events import MessageSaved

    b = await Backend.open(locations=locations, settings=Settings(default_model=BUNDLED_MODEL_NAME))
    try:
        (listed,) = await b.tuneups.list_adapters()
        assert listed.run_id == run_id and not listed.active and listed.gguf is not None
        await b.tuneups.activate_adapter(run_id)
        assert [a.active for a in await b.tuneups.list_adapters()] == [True]

        async def ask() -> str:
            conv = await b.conversations.create_conversation()
            await b.conversations.set_system_prompt(conv.id, SYSTEM)
            await b.tools.set_conversation_tools(conv.id, False)
            await b.documents.set_conversation_documents(conv.id, False)
            events = await (await b.chat.send(conv.id, NEW_QUESTIONS[1])).collect()
            return next(e.content for e in events if isinstance(e, MessageSaved))

        tuned = await ask()
        assert "Captain Pax" in tuned, tuned
        (row, *_) = await b.telemetry.request_log(limit=1)
        assert row.model == f"{BUNDLED_MODEL_NAME}+{run_id}"
        assert await b.tuneups.deactivate_adapter() is True
        assert "Captain Pax" not in await ask()
    finally:
        await b.close()


async def test_cancel_stops_training_and_leaves_no_run(locations: Locations) -> None:
    assert BASE is not None
    await build_history(locations)
    ds = load_dataset(locations)
    cancel = threading.Event()

    def on_progress(p: Progress) -> None:
        if p.step == 2:
            cancel.set()

    cfg = SFTConfig(max_steps=50, batch_size=2, max_seq_len=64, evaluate=False)
    with pytest.raises(TrainingCancelled, match="step 2 of 50"):
        train_sft(ds, BASE, locations, "m", cfg, progress=on_progress, cancel=cancel)
    assert not any(adapters_root(locations).glob("*/*"))
    assert list_runs(locations) == []
