"""Tune-ups of a Hugging Face model folder (the transformers runtime's
models): plain LoRA and QLoRA (bitsandbytes 4-bit, on this CPU), SFT and
DPO, the run the transformers runtime then applies, and the job for a
transformers model started through the backend. The base is the bundled
SmolLM2 saved as a real safetensors folder (``tests/conftest.py`` ``hf_dir``)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from backend import Backend
from backend.common.config import GenerationSettings, HFModelEntry, Settings
from backend.common.errors import AdapterError, ModelError
from backend.common.events import MessageSaved, TextDelta
from backend.common.locations import Locations
from backend.modelfiles.adapters import activate, active_adapter, new_run_dir, write_run
from backend.modelfiles.catalog import bundled_model_path
from backend.runtimes.base import ChatMessage, GenerationParams, GenerationRequest
from backend.runtimes.transformers_rt import TransformersRuntime
from backend.store.db import Database
from backend.tuneup.job import job_command
from backend.tuneup.records import TuneupUpdate
from trainer.dataset import load_dataset
from trainer.dpo import DPOConfig, train_dpo
from trainer.evaluate import heldout_nll, pair_margins
from trainer.hf_model import NO_GGUF_REASON, load_base, resolve_quantize
from trainer.runs import adapters_root, list_runs
from trainer.sft import SFTConfig, train_sft

from .history import TOPICS, build_history, build_preference_history
from .jobs import start_ahead

SEQ = 64


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _linear4bit(model: Any) -> int:
    import bitsandbytes as bnb

    return sum(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())


def _job(home: Path, *args: str) -> list[dict[str, Any]]:
    cmd = [sys.executable, "-m", "trainer.job", "--home", str(home), "--model", "m", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 1, out.stderr[-2000:]
    return [json.loads(line) for line in out.stdout.splitlines()]


# -- cheap: nothing is loaded ----------------------------------------------


def test_quantize_policy() -> None:
    assert resolve_quantize("auto", "hf", "cpu") == "none"
    assert resolve_quantize("auto", "hf", "cuda") == "4bit"
    assert resolve_quantize("auto", "gguf", "cuda") == "none"
    assert resolve_quantize("8bit", "hf", "cpu") == "8bit"
    with pytest.raises(ModelError, match="needs a Hugging Face model folder"):
        resolve_quantize("4bit", "gguf", "cpu")
    with pytest.raises(ModelError, match="quantize must be one of"):
        resolve_quantize("2bit", "hf", "cpu")


async def test_a_bad_base_is_a_clear_model_error(locations: Locations, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text('{"model_type": "llama"}')
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    (broken / "model.safetensors").write_bytes(b"\0" * 16)
    (broken / "tokenizer.json").write_text("{}")
    cases = {
        tmp_path / "nowhere": "no such file or folder",
        empty: "has no config.json (not a Hugging Face model folder)",
        no_weights: "has no *.safetensors weights",
        broken: "cannot read",
    }
    for path, message in cases.items():
        with pytest.raises(ModelError, match=re.escape(message)):
            load_base(path)
    gguf = bundled_model_path()
    assert gguf is not None
    with pytest.raises(ModelError, match="needs a Hugging Face model folder"):
        load_base(gguf, quantize="4bit")

    await build_history(locations)
    ds = load_dataset(locations)
    with pytest.raises(ModelError, match=r"has no config\.json"):
        train_sft(ds, empty, locations, "m", SFTConfig(max_steps=1))
    assert not any(adapters_root(locations).glob("*/*"))  # no run left behind

    home = tmp_path / "profile"
    Database(Locations(home).ensure().database).close()
    (err,) = _job(home, "--base-hf", str(gguf))
    assert (
        err["type"] == "ModelError"
        and "is a file, not a Hugging Face model folder" in (err["message"])
    )
    (err,) = _job(home, "--base-gguf", str(empty))
    assert err["type"] == "ModelError" and "--base-hf" in err["message"]
    (ds_event, err) = _job(home, "--base-hf", str(empty), "--quantize", "4bit", "--device", "cpu")
    assert ds_event["event"] == "dataset" and err["type"] == "NotEnoughDataError"


def test_runs_on_a_hugging_face_base_activate_their_peft_adapter(locations: Locations) -> None:
    run = new_run_dir(locations, "smol-hf")
    write_run(run, {"kind": "sft", "model": "smol-hf", "base": {"kind": "hf"}})
    with pytest.raises(AdapterError, match="has no peft adapter"):
        activate(locations, run.name)
    (run / "adapter_config.json").write_text("{}")
    (run / "adapter_model.safetensors").write_bytes(b"")
    adapter = activate(locations, run.name)
    assert adapter.active and adapter.base == "hf" and adapter.gguf is None
    assert active_adapter(locations, "smol-hf") == run / "adapter_config.json"
    (run / "adapter_model.safetensors").unlink()
    assert active_adapter(locations, "smol-hf") is None  # files gone: no adapter

    cmd = job_command(Path("/h"), "smol-hf", Path("/models/smol"), "sft", base_kind="hf",
                      quantize="4bit", device="cpu")  # fmt: skip
    assert cmd[cmd.index("--base-hf") + 1] == "/models/smol" and "--base-gguf" not in cmd
    assert cmd[cmd.index("--quantize") + 1] == "4bit" and cmd[cmd.index("--device") + 1] == "cpu"


# -- the real model -----------------------------------------------------------


@pytest.mark.real_model
async def test_sft_on_a_hugging_face_folder(locations: Locations, hf_dir: Path) -> None:
    await build_history(locations)
    ds = load_dataset(locations)
    cfg = SFTConfig(
        max_steps=8, batch_size=2, max_seq_len=SEQ, learning_rate=2e-3, device="cpu"
    )  # quantize "auto" is plain LoRA on the CPU
    result = train_sft(ds, hf_dir, locations, "smol-hf", cfg)
    m = result.record["metrics"]
    print(f"\nfp32 LoRA: {result.record['timings']['s_per_step']:.2f} s/step, losses {m['losses']}")
    assert m["heldout_nll_tuned"] < m["heldout_nll_base"] - 0.1
    assert _mean(m["losses"][-3:]) < 0.5 * _mean(m["losses"][:3])
    assert _linear4bit(result.model) == 0

    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["base"] == {
        "kind": "hf", "path": str(hf_dir), "size": (hf_dir / "model.safetensors").stat().st_size,
        "quantize": "none", "device": "cpu", "dtype": "float32",
    }  # fmt: skip
    assert "base_gguf" not in record and record["config"]["quantize"] == "auto"
    files = {p.name for p in result.run_dir.iterdir()}
    assert {"run.json", "adapter_config.json", "adapter_model.safetensors"} <= files
    assert "adapter.gguf" not in files
    peft_config = json.loads((result.run_dir / "adapter_config.json").read_text())
    assert peft_config["base_model_name_or_path"] == str(hf_dir)
    (run,) = list_runs(locations)
    assert run.base_kind == "hf" and run.chat_adapter == result.run_dir / "adapter_config.json"


@pytest.mark.real_model
async def test_qlora_4bit_on_the_cpu(locations: Locations, hf_dir: Path) -> None:
    """4-bit NF4 base (bitsandbytes on the CPU), LoRA trained on top; the
    activated run loads in the transformers runtime on the same 4-bit base
    and scores held-out replies exactly as the trained model did."""
    await build_history(locations)
    ds = load_dataset(locations)
    cfg = SFTConfig(
        max_steps=8, batch_size=2, max_seq_len=SEQ, learning_rate=2e-3, quantize="4bit",
        device="cpu",
    )  # fmt: skip
    result = train_sft(ds, hf_dir, locations, "smol-q", cfg)
    m = result.record["metrics"]
    print(f"\n4-bit QLoRA: {result.record['timings']['s_per_step']:.2f} s/step, {m['losses']}")
    assert _linear4bit(result.model) == 30 * 7  # every projection of the 30 layers
    assert result.model.get_memory_footprint() < (hf_dir / "model.safetensors").stat().st_size / 2
    assert m["heldout_nll_tuned"] < m["heldout_nll_base"] - 0.1
    # As fast as float32 LoRA; it would crawl if the held-out pass before
    # training had let bitsandbytes repack the weights for inference.
    assert _mean(m["losses"][-3:]) < 0.5 * _mean(m["losses"][:3])
    assert result.record["base"]["quantize"] == "4bit"
    trained_nll = m["heldout_nll_tuned"]
    del result

    run_id = list_runs(locations)[0].path.name
    activate(locations, run_id)  # not evaluated by a job: no verdict to refuse it
    adapter = active_adapter(locations, "smol-q")
    assert adapter is not None and adapter.name == "adapter_config.json"
    rt = TransformersRuntime(
        Settings(
            hf_models=[HFModelEntry(name="smol-q", path=hf_dir, quantization="4bit", device="cpu")]
        )
    )
    (model,) = rt.list_models()
    tuned = replace(model, adapter=adapter)
    assert tuned.log_name == f"smol-q+{run_id}"
    request = GenerationRequest(tuned, [ChatMessage("user", "Tell me about elephants.")])
    greedy = replace(request, params=GenerationParams(temperature=0.0, max_tokens=8))
    events = list(rt.stream(greedy, threading.Event()))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)).strip()
    loaded = rt.loaded
    assert loaded is not None and _linear4bit(loaded.model) == 30 * 7
    served_nll = heldout_nll(loaded.model, loaded.tokenizer, ds.heldout, SEQ)
    with loaded.model.disable_adapter():  # a quantized base keeps the adapter unmerged
        base_nll = heldout_nll(loaded.model, loaded.tokenizer, ds.heldout, SEQ)
    assert served_nll == pytest.approx(trained_nll, abs=1e-3)
    assert served_nll < base_nll - 0.1
    rt.close()


@pytest.mark.real_model
async def test_8bit_base_trains(locations: Locations, hf_dir: Path) -> None:
    import bitsandbytes as bnb

    await build_history(locations)
    ds = load_dataset(locations)
    cfg = SFTConfig(
        max_steps=5, batch_size=2, max_seq_len=SEQ, learning_rate=2e-3, quantize="8bit",
        device="cpu", evaluate=False,
    )  # fmt: skip
    result = train_sft(ds, hf_dir, locations, "smol-q8", cfg)
    losses = result.record["metrics"]["losses"]
    print(f"\n8-bit LoRA: {result.record['timings']['s_per_step']:.2f} s/step, {losses}")
    assert sum(isinstance(m, bnb.nn.Linear8bitLt) for m in result.model.modules()) == 30 * 7
    assert losses[-1] < losses[0] - 1.0
    assert result.record["base"]["quantize"] == "8bit"


@pytest.mark.real_model
async def test_dpo_on_a_4bit_hugging_face_base(locations: Locations, hf_dir: Path) -> None:
    """trl's DPO trains a LoRA on a 4-bit base: the held-out preference
    margin widens. Two steps, the fewest that train (the first is warm-up at
    learning rate 0); measured: reward 5.9 nats (4.8-6.6 per pair), 15.8
    after three, against the 0.5 asserted."""
    await build_preference_history(locations, TOPICS[:16])
    ds = load_dataset(locations)
    cfg = DPOConfig(
        max_steps=2, batch_size=2, max_seq_len=SEQ, learning_rate=2e-3, quantize="4bit",
        device="cpu",
    )  # fmt: skip
    result = train_dpo(ds, hf_dir, locations, "smol-q", cfg)
    model, tok = result.model, result.tokenizer
    assert _linear4bit(model) == 30 * 7
    with model.disable_adapter():
        base = pair_margins(model, tok, ds.heldout_pairs, SEQ)
    tuned = pair_margins(model, tok, ds.heldout_pairs, SEQ)
    reward = _mean([t - b for t, b in zip(tuned, base, strict=True)])
    print(f"\n4-bit DPO: {result.record['timings']['s_per_step']:.2f} s/step, reward {reward:.2f}")
    assert reward > 0.5
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["method"] == "dpo" and len(record["metrics"]["losses"]) == 2
    assert record["base"]["kind"] == "hf" and record["base"]["quantize"] == "4bit"


@dataclass(frozen=True)
class BackendTuneup:
    locations: Locations
    settings: Settings
    result: Future[tuple[list[str], list[TuneupUpdate]]]
    """The job's command and every update it reported."""


@pytest.fixture(scope="module")
def backend_hf_tuneup(
    tmp_path_factory: pytest.TempPathFactory, hf_dir: Path
) -> Iterator[BackendTuneup]:
    """`assistant tune` on a transformers model (``smol-hf``: ``hf_dir``),
    as the backend does it: ``tuneups.start_tuneup("sft", steps=3)``, its
    updates followed to the end, in a thread with its own event loop and
    Backend, started with this module (``_tune_ahead``): the job process
    (~18 s, one torch thread) runs on the second core while the tests before
    ``test_tuning_a_transformers_model_through_the_backend`` use the first.
    Ten chats (8 train, 2 held out: the least a tune-up accepts) keep the
    job's evaluation to two generated replies per side."""
    locations = Locations(tmp_path_factory.mktemp("hf-tuneup") / "home")
    asyncio.run(build_history(locations, TOPICS[:10]))
    settings = Settings(
        default_model="smol-hf",
        hf_models=[HFModelEntry(name="smol-hf", path=hf_dir, device="cpu")],
        generation=GenerationSettings(max_tokens=8, temperature=0.0),
    )

    async def tune() -> tuple[list[str], list[TuneupUpdate]]:
        b = await Backend.open(locations=locations, settings=settings)
        try:
            job = await b.tuneups.start_tuneup("sft", steps=3)
            return job.command, [u async for u in job.updates()]
        finally:
            await b.close()

    with ThreadPoolExecutor(1, thread_name_prefix="tuneup-ahead") as pool:
        yield BackendTuneup(locations, settings, pool.submit(asyncio.run, tune()))


@pytest.fixture(scope="module", autouse=True)
def _tune_ahead(request: pytest.FixtureRequest) -> None:
    start_ahead(request, "backend_hf_tuneup")


@pytest.mark.real_model
async def test_tuning_a_transformers_model_through_the_backend(
    backend_hf_tuneup: BackendTuneup, hf_dir: Path
) -> None:
    """`assistant tune` on a transformers model (``backend_hf_tuneup``): the
    job gets its folder, trains, evaluates, skips the GGUF export (saying
    why); the run activates and the chat runtime answers with it, logged
    under the run's id."""
    cmd, seen = await asyncio.wait_for(asyncio.wrap_future(backend_hf_tuneup.result), 600)
    assert cmd[cmd.index("--base-hf") + 1] == str(hf_dir) and "--base-gguf" not in cmd
    assert cmd[cmd.index("--quantize") + 1] == "auto"
    assert cmd[cmd.index("--device") + 1] == "cpu"
    assert [u.event for u in seen] == ["dataset"] + ["progress"] * 3 + ["eval", "done"], seen[
        -1
    ].data
    done = seen[-1].data
    assert done["gguf"] is None and done["base_kind"] == "hf"
    assert done["export_skipped"] == NO_GGUF_REASON
    run_dir = Path(done["run_dir"])
    record = json.loads((run_dir / "run.json").read_text())
    assert record["gguf"] is None and record["export"] == {"skipped": NO_GGUF_REASON}
    assert record["validation"] == {"skipped": NO_GGUF_REASON}
    assert record["base"]["kind"] == "hf" and record["base"]["quantize"] == "none"
    assert record["verdict"] == done["verdict"]

    locations, settings = backend_hf_tuneup.locations, backend_hf_tuneup.settings
    b = await Backend.open(locations=locations, settings=settings)
    try:
        (listed,) = await b.tuneups.list_adapters()
        assert listed.base == "hf" and listed.gguf is None and listed.run_id == run_dir.name
        await b.tuneups.activate_adapter(listed.run_id, force=True)  # 3 steps need not help
        model = b.models.resolve(None)[1]
        assert model.runtime == "transformers" and model.adapter == run_dir / "adapter_config.json"
        conv = await b.conversations.create_conversation()
        await b.tools.set_conversation_tools(conv.id, False)
        await b.documents.set_conversation_documents(conv.id, False)
        events = await (await b.chat.send(conv.id, "Tell me about elephants.")).collect()
        assert next(e.content for e in events if isinstance(e, MessageSaved)).strip()
        (row, *_) = await b.telemetry.request_log(limit=1)
        assert row.model == f"smol-hf+{listed.run_id}"
        assert await b.tuneups.deactivate_adapter() is True
    finally:
        await b.close()


@pytest.mark.cuda
@pytest.mark.torch_cuda
@pytest.mark.real_model
async def test_qlora_on_cuda(locations: Locations, hf_dir: Path) -> None:
    """On a GPU, ``auto`` is QLoRA: 4-bit base on CUDA, SFT and DPO train."""
    import torch

    await build_preference_history(locations, TOPICS[:16])
    ds = load_dataset(locations)
    cfg = SFTConfig(max_steps=10, batch_size=2, max_seq_len=SEQ, learning_rate=2e-3, evaluate=False)
    result = train_sft(ds, hf_dir, locations, "smol-cuda", cfg)
    base = result.record["base"]
    assert base["quantize"] == "4bit" and base["device"] == "cuda"
    assert _linear4bit(result.model) == 30 * 7
    lora = [p for n, p in result.model.named_parameters() if "lora_B" in n]
    assert lora and all(p.device.type == "cuda" and p.abs().sum() > 0 for p in lora)
    losses = result.record["metrics"]["losses"]
    assert _mean(losses[-3:]) < _mean(losses[:3])
    del result
    torch.cuda.empty_cache()

    dpo = train_dpo(ds, hf_dir, locations, "smol-cuda", DPOConfig(max_steps=4, max_seq_len=SEQ))
    assert dpo.record["base"]["device"] == "cuda" and len(dpo.record["metrics"]["losses"]) == 4
