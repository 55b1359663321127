"""The proof: a user who always edits replies into one style gets a model
that writes in that style, on questions it never trained on, in the chat
runtime (llama.cpp), from a tune-up that runs on a laptop CPU in minutes.

History: one chat per topic; the user edits every reply to open with
"Ahoy! Captain Pax here." -> dataset -> LoRA SFT on the bundled SmolLM2
(``conftest.style_run``, shared with ``test_evaluate``) -> held-out NLL
drops -> GGUF LoRA export -> validation -> llama.cpp greedy generation
opens with the persona on new prompts; the base model does not.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from backend import Backend
from backend.common.config import GenerationSettings, LlamaSettings, Settings
from backend.common.locations import Locations
from backend.modelfiles.catalog import BUNDLED_MODEL_NAME, bundled_model_path
from trainer.dataset import load_dataset
from trainer.errors import TrainingCancelled
from trainer.export_gguf import export_gguf_lora
from trainer.runs import adapters_root, list_runs
from trainer.sft import Progress, SFTConfig, train_sft
from trainer.validate import validate_adapter

from .conftest import STYLE_STEPS, StyleRun
from .history import TOPICS, build_history

pytestmark = pytest.mark.real_model
BASE = bundled_model_path()
assert BASE is not None
NEW_QUESTIONS = [
    "What is a rainbow?",
    "Tell me about elephants.",
    "How do airplanes fly?",
    "What is chocolate made from?",
]
SYSTEM = "You are a helpful assistant."


def generate(lora: Path | None) -> list[str]:
    import llama_cpp

    assert BASE is not None
    kw = {"lora_path": str(lora)} if lora is not None else {}
    # one thread: two spin-wait for each other on a busy two-core machine
    # (measured: 10 s instead of 0.6 s for 16 tokens)
    llm = llama_cpp.Llama(
        model_path=str(BASE), n_ctx=512, verbose=False, seed=0, n_threads=1, n_threads_batch=1,
        **kw,
    )  # fmt: skip
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


async def test_a_tuneup_teaches_the_users_style(style_run: StyleRun) -> None:
    """The shared style tune-up (``conftest.style_run``): it trained every
    step, lowered held-out NLL, wrote a run; its GGUF export validates, and
    llama.cpp with it opens replies to new questions in the persona where
    the base never does; the chat runtime uses it once activated."""
    assert BASE is not None
    locations, ds, cfg, result = (
        style_run.locations, style_run.dataset, style_run.config, style_run.result
    )  # fmt: skip
    assert ds.summary.train_sft >= 24 and ds.summary.heldout_sft >= 4
    assert NEW_QUESTIONS[0] not in {t.content for ex in ds.train for t in ex.prompt}

    seen = style_run.progress
    assert [p.step for p in seen] == list(range(1, STYLE_STEPS + 1)) and seen[-1].eta_s == 0
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
        f"style {hits}/{len(tuned)}"
    )
    assert hits >= 3
    assert not any("Captain Pax" in t for t in base)
    await chat_with_the_active_adapter(locations, run.name)


async def chat_with_the_active_adapter(locations: Locations, run_id: str) -> None:
    """The chat runtime (llama.cpp worker process, through the facade) uses
    the activated adapter, logs it, and rolls back in one call. Replies are
    cut at 16 tokens: the persona (8 tokens) opens a tuned reply."""
    from backend.common.events import MessageSaved

    settings = Settings(
        default_model=BUNDLED_MODEL_NAME,
        llama=LlamaSettings(n_threads=1),
        generation=GenerationSettings(max_tokens=16, temperature=0.0),
    )
    b = await Backend.open(locations=locations, settings=settings)
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
    """A cancel set while the first step is reported stops training before
    the second: no run directory is left. Ten chats (8 train) are the least
    a tune-up accepts; the cancel makes ``max_steps`` irrelevant."""
    assert BASE is not None
    await build_history(locations, TOPICS[:10])
    ds = load_dataset(locations)
    cancel = threading.Event()
    seen: list[int] = []

    def on_progress(p: Progress) -> None:
        seen.append(p.step)
        cancel.set()

    cfg = SFTConfig(max_steps=50, batch_size=2, max_seq_len=64, evaluate=False)
    with pytest.raises(TrainingCancelled, match="step 1 of 50"):
        train_sft(ds, BASE, locations, "m", cfg, progress=on_progress, cancel=cancel)
    assert seen == [1]
    assert not any(adapters_root(locations).glob("*/*"))
    assert list_runs(locations) == []
