"""DPO tune-ups on the bundled model: a user who thumbs down plain replies
and prefers (upvotes a regeneration, or edits into) the persona style gets
an adapter under which the persona reply is more likely than the plain one
on held-out chats, relative to the base; and a cancel leaves nothing."""

from __future__ import annotations

import json
import threading

import pytest

from backend import Backend
from backend.common.config import Settings
from backend.common.locations import Locations
from backend.modelfiles.catalog import BUNDLED_MODEL_NAME, bundled_model_path
from backend.runtimes.fake import FakeRuntime
from trainer.dataset import load_dataset
from trainer.dpo import DPOConfig, require_pairs, train_dpo
from trainer.errors import NotEnoughDataError, TrainingCancelled
from trainer.evaluate import pair_margins
from trainer.runs import adapters_root, list_runs
from trainer.sft import Progress

from .history import Exchange, ScriptedAnswers, add_chat
from .test_tuneup_e2e import PERSONA, TOPICS, answer

BASE = bundled_model_path()
assert BASE is not None


async def build_preference_history(locations: Locations, topics: list[str] = TOPICS) -> None:
    """Every plain reply gets a thumbs down; the persona version is either an
    upvoted regeneration (even chats) or the user's edit (odd chats)."""
    script = ScriptedAnswers()
    b = await Backend.open(
        locations=locations,
        settings=Settings(default_model="fake-model"),
        runtimes=[FakeRuntime(responder=script)],
    )
    for i, topic in enumerate(topics):
        q, a = f"What can you tell me about {topic}?", answer(topic)
        styled = f"{PERSONA} {a}"
        if i % 2 == 0:
            ex = Exchange(q, a, rating=-1, regenerate_rating=1, regenerated=styled)
        else:
            ex = Exchange(q, a, edit=styled)
        await add_chat(b, script, [ex])
    await b.close()


@pytest.mark.real_model
async def test_dpo_widens_the_heldout_preference_margin(locations: Locations) -> None:
    assert BASE is not None
    await build_preference_history(locations)
    ds = load_dataset(locations)
    s = ds.summary
    assert s.train_pairs >= 24 and s.heldout_pairs >= 4
    assert {p.source for p in ds.train_pairs} == {"sibling", "edit"}
    assert all(p.chosen.startswith(PERSONA) for p in ds.train_pairs + ds.heldout_pairs)

    seen: list[Progress] = []
    cfg = DPOConfig(max_steps=12, batch_size=2, max_seq_len=96, learning_rate=1e-3)
    result = train_dpo(ds, BASE, locations, BUNDLED_MODEL_NAME, cfg, progress=seen.append)
    assert [p.step for p in seen] == list(range(1, 13)) and seen[-1].eta_s == 0
    assert all(p.total == 12 for p in seen)

    model, tok = result.model, result.tokenizer
    with model.disable_adapter():
        base = pair_margins(model, tok, ds.heldout_pairs, cfg.max_seq_len)
    tuned = pair_margins(model, tok, ds.heldout_pairs, cfg.max_seq_len)
    reward = [t - b for t, b in zip(tuned, base, strict=True)]
    mean = sum(reward) / len(reward)
    print(f"\nheld-out margin base {base}\ntuned {tuned}\nmean reward margin {mean:.2f} nats")
    assert mean > 1.0
    assert sum(r > 0 for r in reward) >= 0.75 * len(reward)

    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["method"] == "dpo" and run["dataset"]["train_pairs"] == s.train_pairs
    assert len(run["metrics"]["losses"]) == 12
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {
        p.name for p in result.run_dir.iterdir()
    }
    assert list_runs(locations)[0].path == result.run_dir


@pytest.mark.real_model
async def test_dpo_cancel_leaves_no_run(locations: Locations) -> None:
    assert BASE is not None
    await build_preference_history(locations, TOPICS[:12])
    ds = load_dataset(locations)
    cancel = threading.Event()

    def on_progress(p: Progress) -> None:
        if p.step == 2:
            cancel.set()

    cfg = DPOConfig(max_steps=40, batch_size=1, max_seq_len=64)
    with pytest.raises(TrainingCancelled, match="step 2 of 40"):
        train_dpo(ds, BASE, locations, "m", cfg, progress=on_progress, cancel=cancel)
    assert not any(adapters_root(locations).glob("*/*"))


async def test_too_few_pairs_is_a_clear_error(locations: Locations) -> None:
    await build_preference_history(locations, TOPICS[:3])
    ds = load_dataset(locations)
    with pytest.raises(NotEnoughDataError, match=r"needs at least 4 training pairs"):
        require_pairs(ds)
    assert BASE is not None
    with pytest.raises(NotEnoughDataError):  # before any model is loaded
        train_dpo(ds, BASE, locations, "m")
    assert not adapters_root(locations).exists() or not any(adapters_root(locations).iterdir())
