"""Check a GGUF LoRA before llama.cpp sees it.

llama-cpp-python does not fail cleanly on a bad adapter: depending on the
fault it aborts the process or crashes on the first decode. So every adapter
is checked here first, with only the gguf reader (no llama.cpp): the file is
a LoRA adapter for the same architecture, every tensor comes in an a/b pair
that names a real base tensor, and the shapes fit (GGUF order, innermost
first: base [in, out], lora_a [in, r], lora_b [r, out]).

It lives in the backend because the chat runtime checks the active adapter
before every load; the trainer uses the same check after exporting. The
base model's facts (architecture, head counts for the q/k permutation,
tensor shapes) are read here too, from the GGUF header.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf

from backend.common.errors import AdapterError, ModelError


@dataclass(frozen=True)
class BaseModelFacts:
    path: Path
    architecture: str
    n_head: int
    n_head_kv: int
    tensor_shapes: dict[str, tuple[int, ...]]
    """GGUF tensor name -> shape in GGUF's order (ne: innermost dim first)."""


def read_base_facts(path: Path) -> BaseModelFacts:
    """Architecture, head counts and tensor shapes from a GGUF header
    (remembered per file version: parsing the header takes seconds).

    Raises:
        ModelError: the file is not a readable GGUF model.
    """
    try:
        st = path.stat()
    except OSError as err:
        raise ModelError(f"cannot read {path}: {err}") from None
    return _read_base_facts(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _read_base_facts(path: Path, mtime_ns: int, size: int) -> BaseModelFacts:
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as err:
        raise ModelError(f"cannot read {path} as GGUF: {err}") from None

    def field(name: str) -> Any:
        f = reader.fields.get(name)
        if f is None:
            raise ModelError(f"{path} has no {name}")
        return f.contents()

    arch = str(field("general.architecture"))
    n_head = int(field(f"{arch}.attention.head_count"))
    kv = reader.fields.get(f"{arch}.attention.head_count_kv")
    shapes = {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}
    return BaseModelFacts(
        path=path,
        architecture=arch,
        n_head=n_head,
        n_head_kv=int(kv.contents()) if kv is not None else n_head,
        tensor_shapes=shapes,
    )


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
