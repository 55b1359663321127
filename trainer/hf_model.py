"""The base model of a tune-up, loaded in a form that trains.

Two kinds of base, told apart by the path (``base_kind``):

* **A GGUF file** (the llama.cpp models). We train on the very file the
  chat runtime serves: transformers reads the GGUF, dequantizes it (Q4_1
  included) to float32 and undoes llama.cpp's rotary permutation of q/k, so
  no second download and no drift between what is tuned and what is served.
  The adapter is later exported against the same GGUF
  (``trainer.export_gguf``), which is why the architecture facts that
  export needs (head counts for the q/k permutation) are read here too.
* **A Hugging Face model folder** (the transformers runtime's
  ``[[hf_models]]``): ``config.json`` + ``*.safetensors`` + tokenizer,
  loaded directly, local files only, safetensors only, with the same checks
  and the same bitsandbytes settings as the runtime
  (``backend.runtimes.transformers_load``). Its peft adapter is what the
  transformers runtime applies; there is no GGUF to export.

Quantization policy (``quantize``; the resolved value is recorded in
``run.json``):

* ``none``: plain LoRA on unquantized weights.
* ``4bit``: QLoRA -- NF4 with double quantization (bitsandbytes
  ``Linear4bit``), compute in the base's dtype, the LoRA weights in
  float32, after peft's ``prepare_model_for_kbit_training`` (which freezes
  the base and upcasts the few non-quantized weights, norms and embeddings,
  to float32 for stable gradients). Gradient checkpointing stays off: it
  saves activation memory at the price of a second forward pass, and the
  models this runs on fit without it.
* ``8bit``: the same with LLM.int8 (``Linear8bitLt``).
* ``auto`` (the default): ``4bit`` for a Hugging Face folder on CUDA (QLoRA
  is what makes a 7B model tune on one consumer GPU), ``none`` on the CPU
  (a 135M-class model fits many times over, and 4-bit saves memory, not
  time: SmolLM2, LoRA r=8 on q/k/v/o, batch 2 x 64 tokens, one torch thread,
  1.0-1.2 s per step in float32, 1.1-1.3 s in 4-bit, 1.1 s in 8-bit) and
  always ``none`` for a GGUF base.

bitsandbytes >= 0.49 runs 4-bit and 8-bit on the CPU too, so QLoRA is
tested on the CPU, not only on a GPU. A GGUF base is never re-quantized
(transformers cannot quantize a GGUF it dequantized): asking for 4/8-bit
on one is a ``ModelError``. Training dtype: float32 on the CPU (CPU kernels
for half precision are slow or missing, and half-precision gradients lose
the small LoRA updates); on CUDA the checkpoint's own dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from backend.common.config import HFModelEntry
from backend.common.errors import ModelError
from backend.modelfiles.adapter_check import BaseModelFacts, read_base_facts
from backend.runtimes import transformers_load as hf

__all__ = [
    "BaseKind",
    "BaseModelFacts",
    "Device",
    "Quantize",
    "TrainBase",
    "base_kind",
    "load_base",
    "load_hf_model",
    "read_base_facts",
    "resolve_quantize",
]

BaseKind = Literal["gguf", "hf"]
Quantize = Literal["auto", "none", "4bit", "8bit"]
Device = Literal["auto", "cpu", "cuda"]
QUANTIZE_CHOICES: tuple[str, ...] = ("auto", "none", "4bit", "8bit")
DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")
NO_GGUF_REASON = (
    "the base is a Hugging Face model folder: the transformers runtime applies the "
    "peft adapter directly, so there is no llama.cpp GGUF LoRA to export or check"
)
"""Why export and GGUF validation are skipped for a Hugging Face base (run.json says it)."""


@dataclass
class TrainBase:
    """A base model loaded for training, with what it was loaded as."""

    model: Any
    tokenizer: Any
    kind: BaseKind
    path: Path
    quantize: str
    """Resolved: ``none``, ``4bit`` or ``8bit``."""
    device: str
    """``cpu`` or ``cuda``."""
    dtype: str

    def describe(self) -> dict[str, Any]:
        """The ``base`` section of ``run.json``."""
        return {
            "kind": self.kind,
            "path": str(self.path),
            "size": _size(self.path, self.kind),
            "quantize": self.quantize,
            "device": self.device,
            "dtype": self.dtype,
        }


def _size(path: Path, kind: BaseKind) -> int | None:
    return path.stat().st_size if kind == "gguf" else hf.weights_size(path)


def base_kind(path: Path) -> BaseKind:
    """``hf`` for a folder, ``gguf`` for a file.

    Raises:
        ModelError: nothing is at ``path``.
    """
    if path.is_dir():
        return "hf"
    if path.is_file():
        return "gguf"
    raise ModelError(f"cannot train on {path}: no such file or folder")


def resolve_quantize(want: str, kind: BaseKind, device: str) -> str:
    """The policy of the module docstring.

    Raises:
        ModelError: 4/8-bit asked for a GGUF base, or an unknown value.
    """
    if want not in QUANTIZE_CHOICES:
        raise ModelError(f"quantize must be one of {', '.join(QUANTIZE_CHOICES)}, not {want!r}")
    if want == "auto":
        return "4bit" if kind == "hf" and device == "cuda" else "none"
    if kind == "gguf" and want != "none":
        raise ModelError(
            f"quantize = {want!r} needs a Hugging Face model folder: a GGUF base is trained "
            "dequantized (float32); use quantize = 'none' or 'auto'"
        )
    return want


def load_hf_model(path: Path) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a GGUF file, float32 on the CPU, in eval mode.

    Raises:
        ModelError: transformers cannot load this GGUF (unknown architecture,
            unsupported quantization, damaged file).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
    except Exception as err:
        raise ModelError(f"cannot load {path.name} for training: {err}") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return model, tokenizer


def load_base(path: Path, quantize: str = "auto", device: str = "auto") -> TrainBase:
    """The base at ``path`` (a GGUF file or a Hugging Face folder), ready for
    ``peft.get_peft_model``, in eval mode.

    Raises:
        ModelError: nothing usable at ``path`` (the message says what is
            missing), no CUDA GPU for ``device = 'cuda'``, bitsandbytes
            missing for 4/8-bit, or transformers cannot load the model.
    """
    import torch

    kind = base_kind(path)
    if device not in DEVICE_CHOICES:
        raise ModelError(f"device must be one of {', '.join(DEVICE_CHOICES)}, not {device!r}")
    where = hf.resolve_device(device, torch)
    bits = resolve_quantize(quantize, kind, where)
    if kind == "gguf":
        model, tokenizer = load_hf_model(path)
        if where != "cpu":
            model.to(where)
        return TrainBase(model, tokenizer, kind, path, bits, where, "float32")
    return _load_folder(path, bits, where, torch)


def _load_folder(path: Path, bits: str, device: str, torch: Any) -> TrainBase:
    problem = hf.entry_problem(HFModelEntry(name=path.name, path=path))
    if problem is not None:
        raise ModelError(f"cannot train on this model folder: {problem}")
    dtype = (
        torch.float32
        if device == "cpu"
        else hf.resolve_dtype("auto", device, hf.read_config(path), torch)
    )
    quant = hf.quantization_config(bits, dtype)
    tokenizer, model = hf.load_folder(path, dtype, device, quant)
    if quant is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if bits == "4bit" and device == "cpu":
        _no_inference_packing(model)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return TrainBase(model, tokenizer, "hf", path, bits, device, str(dtype).removeprefix("torch."))


def _no_inference_packing(model: Any) -> None:
    # bitsandbytes 0.50 on a CPU with AVX512-BF16 repacks a Linear4bit's weight
    # for a fast inference kernel on its first eval-mode no-grad forward (a
    # held-out evaluation), and from then on every forward, in training too,
    # takes that kernel, through which no gradient flows back to the layer's
    # input. Training after an evaluation would then silently learn through the
    # residual stream only (measured: 8 steps took the loss 3.7 -> 3.0 instead
    # of 3.9 -> 0.4). A model loaded to be trained never packs.
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False
