"""Export a peft LoRA adapter as a GGUF LoRA that llama.cpp applies at load.

What llama.cpp expects (llama-adapter.cpp, and what convert_lora_to_gguf.py
writes): ``general.type = "adapter"``, ``adapter.type = "lora"``,
``adapter.lora.alpha`` (llama.cpp scales by alpha / rank, like peft), the
base's ``general.architecture``, and per adapted weight ``<gguf name>.lora_a``
and ``.lora_b``. peft stores lora_A as [r, in] and lora_B as [out, r] (numpy
order); GGUF lists dims innermost first, so they read ne = [in, r] and
[r, out], which is what llama.cpp checks against the base's [in, out].

The rotary permutation: for llama-architecture models, llama.cpp's converter
reorders the rows (output features) of q_proj and k_proj so its RoPE kernel
sees the halves interleaved; transformers undoes that when it loads the GGUF.
A row permutation P commutes with the low-rank product, P(W + BA) = PW + (PB)A,
so exporting the same permutation of lora_B rows is exact (a test checks it
numerically against the base GGUF's own weights).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from trainer.errors import AdapterError
from trainer.hf_model import BaseModelFacts, read_base_facts
from trainer.runs import GGUF_FILE

HF_TO_GGUF = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
PERMUTED_ARCHS = {"llama"}
_KEY = re.compile(r"(?:.*\.)?layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])\.weight$")


def permute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """convert_hf_to_gguf's ``LlamaModel.permute`` on the first (output) axis."""
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def gguf_tensors(weights: dict[str, np.ndarray], facts: BaseModelFacts) -> dict[str, np.ndarray]:
    """peft state dict -> ``{gguf name: float32 array}``.

    Raises:
        AdapterError: a key is not a LoRA weight of a module the base has.
    """
    out: dict[str, np.ndarray] = {}
    for key, value in weights.items():
        m = _KEY.match(key)
        if m is None or m.group(2) not in HF_TO_GGUF:
            raise AdapterError(f"cannot map adapter weight {key!r} to a llama.cpp tensor")
        layer, module, which = int(m.group(1)), m.group(2), m.group(3)
        base = f"blk.{layer}.{HF_TO_GGUF[module]}.weight"
        if base not in facts.tensor_shapes:
            raise AdapterError(f"the base model has no tensor {base} (for {key})")
        arr = np.ascontiguousarray(value, dtype=np.float32)
        if which == "B" and facts.architecture in PERMUTED_ARCHS:
            if module == "self_attn.q_proj":
                arr = permute_rows(arr, facts.n_head)
            elif module == "self_attn.k_proj":
                arr = permute_rows(arr, facts.n_head_kv)
        out[f"{base}.lora_{which.lower()}"] = np.ascontiguousarray(arr)
    return out


def _load_peft(run_dir: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from safetensors.numpy import load_file

    try:
        config = json.loads((run_dir / "adapter_config.json").read_text())
        weights = load_file(str(run_dir / "adapter_model.safetensors"))
    except (OSError, ValueError) as err:
        raise AdapterError(f"{run_dir} is not a readable peft adapter: {err}") from None
    if config.get("peft_type") != "LORA":
        raise AdapterError(f"{run_dir} holds a {config.get('peft_type')} adapter, not LoRA")
    if config.get("use_rslora") or config.get("use_dora"):
        raise AdapterError("rsLoRA/DoRA adapters cannot be exported to llama.cpp's LoRA format")
    return config, weights


def export_gguf_lora(run_dir: Path, base_gguf: Path, out: Path | None = None) -> Path:
    """Write ``run_dir``'s adapter as a GGUF LoRA (default ``run_dir/adapter.gguf``).

    The file is written next to its final name and renamed, so a crash never
    leaves a half-written adapter that llama.cpp would load.

    Raises:
        AdapterError: the run is not a LoRA adapter that fits ``base_gguf``.
        ModelError: ``base_gguf`` is unreadable.
    """
    config, weights = _load_peft(run_dir)
    facts = read_base_facts(base_gguf)
    tensors = gguf_tensors(weights, facts)
    out = out or run_dir / GGUF_FILE
    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), facts.architecture)
    writer.add_string(gguf.Keys.General.TYPE, gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
    writer.add_name(f"{run_dir.name} LoRA")
    for name in sorted(tensors):
        writer.add_tensor(name, tensors[name])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)
    return out
