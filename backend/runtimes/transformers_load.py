"""Checking and loading ``[[hf_models]]`` folders for the transformers runtime.

Split from ``transformers_rt`` so that the runtime reads as "prompt in,
events out" and this module as "folder in, model out". Choices, and why:

* **Cheap checks first.** ``entry_problem`` only looks at files (the
  folder, ``config.json``, ``*.safetensors``, tokenizer files, the adapter's
  ``adapter_config.json``), so listing models never imports torch; a
  problem becomes a reason shown to the user, not a crash at load time.
* **Local files only, safetensors only.** ``local_files_only=True`` and
  ``use_safetensors=True``: nothing is downloaded and no pickle is
  unpickled. ``trust_remote_code`` stays off, so models that need custom
  Python code are refused with transformers' own message.
* **Quantization is bitsandbytes.** ``4bit`` is NF4 with double
  quantization and the compute dtype of ``dtype``; ``8bit`` is LLM.int8.
  bitsandbytes >= 0.49 runs both on the CPU too (slower than float32 for a
  small model; the point is memory). Missing bitsandbytes is a
  ``ModelError`` that says how to fix it.
* **Adapters are merged when they can be.** A peft adapter on an
  unquantized model is merged into the weights (``merge_and_unload``):
  same output, no per-token LoRA cost. On a quantized model it stays a
  separate layer (merging into 4/8-bit weights would lose precision).
* **dtype ``auto``** is the checkpoint's own dtype, except float16 on the
  CPU, which becomes float32 (many CPU kernels lack float16).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.common.config import HFModelEntry
from backend.common.errors import AdapterError, ModelError
from backend.common.hf_offline import hf_offline

CONFIG_FILE = "config.json"
ADAPTER_CONFIG = "adapter_config.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")


def model_dir(entry: HFModelEntry) -> Path:
    return entry.path.expanduser()


def adapter_dir(entry: HFModelEntry, override: Path | None = None) -> Path | None:
    """The peft adapter folder to apply: ``override`` (the facade's active
    tune-up; a file inside a run folder names that folder) when it holds a
    peft adapter, else the entry's own ``adapter``."""
    if override is not None:
        folder = override if override.is_dir() else override.parent
        if (folder / ADAPTER_CONFIG).is_file():
            return folder
    return entry.adapter.expanduser() if entry.adapter is not None else None


def entry_problem(entry: HFModelEntry) -> str | None:
    """Why this entry cannot run, from its files alone (None: it looks fine)."""
    path = model_dir(entry)
    if not path.is_dir():
        return f"model folder {path} does not exist"
    if not (path / CONFIG_FILE).is_file():
        return f"{path} has no {CONFIG_FILE} (not a Hugging Face model folder)"
    if not any(path.glob("*.safetensors")):
        return f"{path} has no *.safetensors weights"
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        return f"{path} has no tokenizer ({' / '.join(TOKENIZER_FILES)})"
    try:
        read_config(path)
    except ModelError as err:
        return str(err)
    adapter = adapter_dir(entry)
    if adapter is not None:
        if not adapter.is_dir():
            return f"adapter folder {adapter} does not exist"
        if not (adapter / ADAPTER_CONFIG).is_file():
            return f"{adapter} has no {ADAPTER_CONFIG} (not a peft adapter folder)"
    return None


def read_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"cannot read {path / CONFIG_FILE}: {err}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path / CONFIG_FILE} is not a JSON object")
    return data


def trained_context(path: Path) -> int | None:
    """``max_position_embeddings`` of the model (or of its text config)."""
    try:
        config = read_config(path)
    except ModelError:
        return None
    for section in (config, config.get("text_config") or {}):
        value = section.get("max_position_embeddings") if isinstance(section, dict) else None
        if isinstance(value, int) and value > 0:
            return value
    return None


def weights_size(path: Path) -> int | None:
    try:
        return sum(f.stat().st_size for f in path.glob("*.safetensors"))
    except OSError:
        return None


def chat_template(path: Path) -> str | None:
    """The tokenizer's chat template read from the folder's files
    (``chat_template.jinja``, else ``tokenizer_config.json``), without
    loading the tokenizer."""
    jinja = path / "chat_template.jinja"
    try:
        if jinja.is_file():
            return jinja.read_text(encoding="utf-8")
        config = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    template = config.get("chat_template") if isinstance(config, dict) else None
    if isinstance(template, list):  # [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default") or next(iter(named.values()), None)
    return template if isinstance(template, str) else None


@dataclass
class HFLoaded:
    """A loaded model and its tokenizer, with what they were loaded as."""

    key: tuple[str, str, str]  # (entry name, model folder, adapter folder)
    model: Any
    tokenizer: Any
    device: str
    eos_ids: frozenset[int]


def resolve_device(want: str, torch: Any) -> str:
    cuda = bool(torch.cuda.is_available())
    if want == "cuda" and not cuda:
        raise ModelError(
            f"device = 'cuda' but torch {torch.__version__} sees no CUDA GPU; "
            "set device = 'cpu' or 'auto'"
        )
    return "cuda" if want == "cuda" or (want == "auto" and cuda) else "cpu"


def resolve_dtype(want: str, device: str, config: dict[str, Any], torch: Any) -> Any:
    if want != "auto":
        return getattr(torch, want)
    name = config.get("dtype") or config.get("torch_dtype") or "float32"
    if device == "cpu" and name == "float16":
        name = "float32"
    dtype = getattr(torch, str(name), None)
    return dtype if isinstance(dtype, torch.dtype) else torch.float32


def quantization_config(kind: str, dtype: Any) -> Any:
    """A ``BitsAndBytesConfig`` for ``4bit`` / ``8bit`` (None for ``none``).

    Raises:
        ModelError: bitsandbytes is not installed or does not import.
    """
    if kind == "none":
        return None
    hf_offline()  # bitsandbytes' import-time warnings stay off stderr
    try:
        import bitsandbytes  # noqa: F401 - only checking it is there
    except Exception as err:
        raise ModelError(
            f"quantization = {kind!r} needs the bitsandbytes package ({err}); "
            "install it (`pip install bitsandbytes`) or set quantization = 'none'"
        ) from None
    from transformers import BitsAndBytesConfig

    if kind == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
    return BitsAndBytesConfig(load_in_8bit=True)


def load_folder(path: Path, dtype: Any, device: str, quant: Any) -> tuple[Any, Any]:
    """``(tokenizer, model)`` from a Hugging Face folder: local files and
    safetensors only (a pickle checkpoint can run code), as the runtime and
    the trainer both load it.

    Raises:
        ModelError: transformers cannot load the folder.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a progress bar on stderr would garble the TUI
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            str(path),
            dtype=dtype,
            device_map=device,
            quantization_config=quant,
            local_files_only=True,
            use_safetensors=True,
        )
    except Exception as err:
        raise ModelError(f"transformers could not load {path}: {err}") from None
    return tokenizer, model


def load_model(entry: HFModelEntry, adapter: Path | None) -> HFLoaded:
    """Load ``entry`` (and ``adapter``) as the entry says.

    Raises:
        ModelError: the folder is incomplete, the device or quantization is
            not available, or transformers cannot load the model.
        AdapterError: the adapter does not load onto this model.
    """
    problem = entry_problem(entry)
    if problem is None and adapter is not None and not (adapter / ADAPTER_CONFIG).is_file():
        problem = f"{adapter} has no {ADAPTER_CONFIG} (not a peft adapter folder)"
    if problem is not None:
        raise ModelError(f"{entry.name}: {problem}")
    path = model_dir(entry)
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as err:
        raise ModelError(f"transformers/torch are not installed ({err}).") from None
    device = resolve_device(entry.device, torch)
    dtype = resolve_dtype(entry.dtype, device, read_config(path), torch)
    quant = quantization_config(entry.quantization, dtype)
    tokenizer, model = load_folder(path, dtype, device, quant)
    if adapter is not None:
        model = _apply_adapter(model, adapter, merge=quant is None)
    model.eval()
    eos = _eos_ids(model, tokenizer)
    key = (entry.name, str(path.resolve()), str(adapter.resolve()) if adapter else "")
    return HFLoaded(key=key, model=model, tokenizer=tokenizer, device=device, eos_ids=eos)


def _apply_adapter(model: Any, adapter: Path, *, merge: bool) -> Any:
    try:
        from peft import PeftModel
    except ImportError as err:
        raise AdapterError(f"applying {adapter} needs the peft package ({err}).") from None
    try:
        tuned = PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
    except Exception as err:
        raise AdapterError(f"adapter {adapter} does not load onto this model: {err}") from None
    return tuned.merge_and_unload() if merge else tuned


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (configured, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(v for v in value if isinstance(v, int))
    return frozenset(ids)
