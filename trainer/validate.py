"""Check a GGUF LoRA before llama.cpp sees it.

llama-cpp-python does not fail cleanly on a bad adapter: depending on the
fault it aborts the process or crashes on the first decode. So every adapter
is checked here first, with only the gguf reader (no llama.cpp): the file is
a LoRA adapter for the same architecture, every tensor comes in an a/b pair
that names a real base tensor, and the shapes fit (GGUF order, innermost
first: base [in, out], lora_a [in, r], lora_b [r, out]).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf

from trainer.errors import AdapterError
from trainer.hf_model import read_base_facts

FLOAT_TYPES = {gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16}


@dataclass(frozen=True)
class AdapterInfo:
    path: Path
    architecture: str
    alpha: float
    rank: int
    tensors: int


def validate_adapter(adapter: Path, base_gguf: Path) -> AdapterInfo:
    """Raises:
    AdapterError: what is wrong, naming the file and the tensor.
    ModelError: ``base_gguf`` itself is unreadable."""
    facts = read_base_facts(base_gguf)
    try:
        reader = gguf.GGUFReader(str(adapter))
    except Exception as err:
        raise AdapterError(f"{adapter.name} is not a readable GGUF file: {err}") from None

    def field(name: str) -> Any:
        f = reader.fields.get(name)
        return None if f is None else f.contents()

    if field("general.type") != "adapter" or field("adapter.type") != "lora":
        raise AdapterError(f"{adapter.name} is not a LoRA adapter (general.type/adapter.type)")
    arch = field("general.architecture")
    if arch != facts.architecture:
        raise AdapterError(
            f"{adapter.name} is for architecture {arch!r}, the model is {facts.architecture!r}"
        )
    alpha = field("adapter.lora.alpha")
    if not isinstance(alpha, float) or alpha <= 0:
        raise AdapterError(f"{adapter.name} has no valid adapter.lora.alpha")

    shapes: dict[str, dict[str, tuple[int, ...]]] = {}
    for t in reader.tensors:
        base, _, which = t.name.rpartition(".lora_")
        if which not in ("a", "b"):
            raise AdapterError(f"{adapter.name}: {t.name} is not a lora_a/lora_b tensor")
        if t.tensor_type not in FLOAT_TYPES:
            raise AdapterError(f"{adapter.name}: {t.name} is {t.tensor_type.name}, not F32/F16")
        shapes.setdefault(base, {})[which] = tuple(int(d) for d in t.shape)
    if not shapes:
        raise AdapterError(f"{adapter.name} holds no tensors")
    ranks = set()
    for base, pair in sorted(shapes.items()):
        if set(pair) != {"a", "b"}:
            raise AdapterError(f"{adapter.name}: {base} lacks its lora_a or lora_b")
        want = facts.tensor_shapes.get(base)
        if want is None:
            raise AdapterError(f"{adapter.name}: the model has no tensor {base}")
        a, b = pair["a"], pair["b"]
        if len(want) != 2 or len(a) != 2 or len(b) != 2:
            raise AdapterError(f"{adapter.name}: {base} is not a matrix")
        if a[0] != want[0] or b[1] != want[1] or a[1] != b[0]:
            raise AdapterError(
                f"{adapter.name}: {base} shapes do not fit: model {list(want)}, "
                f"lora_a {list(a)}, lora_b {list(b)} (want [{want[0]}, r] and [r, {want[1]}])"
            )
        ranks.add(a[1])
    return AdapterInfo(adapter, facts.architecture, float(alpha), max(ranks), len(shapes))
