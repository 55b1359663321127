"""Will a model run here? ``fits`` / ``slow`` / ``won't fit``, with the sums shown.

Everything is a pure function of a ``Machine`` (``machine.py``), so the
labels can be computed for any machine, and each carries its basis as text.

Memory a chat model needs (``need``):

- weights: the GGUF file size (all parts);
- KV cache at the context used (default 4,096 tokens, capped at the model's
  trained context): ``2 (K and V) x layers x kv_heads x head_dim x n_ctx x
  2 bytes`` (llama.cpp's default f16 cache) when the catalog knows the
  attention shape; otherwise a rule of thumb of 128 KiB per token (what a
  Llama-3-8B-style model with grouped-query attention needs; generous for
  smaller models);
- 0.5 GiB for llama.cpp's compute buffers and runtime;
- plus 0.5 GiB for the knowledge base's embedder, which runs beside the chat
  model (``total``).

The rules (``OS headroom`` = the larger of 1.5 GiB and 20 % of RAM, left for
the system and other programs):

- CPU only: ``fits`` when total <= 60 % of RAM (beyond that the machine
  swaps as soon as anything else runs) and decoding is estimated at
  8 tokens/s or more; ``slow`` when total <= RAM - headroom; else ``won't
  fit``. Decoding on the CPU reads every weight once per token, so it is
  bound by memory bandwidth: about 4 GB/s per physical core that llama.cpp
  can use (capped at 60 GB/s), divided by the weights' size. Measured
  here: 2 cores decode the 98 MB SmolLM2 at ~80 tokens/s (7.8 GB/s); a
  1.1 GB model would manage ~7 tokens/s, an 8.5 GB one ~1. Below 8 tokens/s
  a reply is slower than reading it, so such a model is ``slow`` however
  much RAM there is. With the core count unknown, speed is not judged.
- NVIDIA GPU: ``fits`` when need <= 90 % of VRAM (the whole model offloaded,
  with room for the driver); ``slow`` when it does not fit VRAM but total <=
  RAM - headroom (runs on the CPU, or partly offloaded with a lower
  ``llama.n_gpu_layers``); else ``won't fit``.
- Apple Metal (unified memory): ``fits`` when total <= 65 % of RAM (macOS
  lets the GPU use about two thirds of unified memory); ``slow`` when total
  <= RAM - headroom; else ``won't fit``.

Embedders and rerankers: weights + 0.25 GiB, no KV cache, same thresholds.

``recommend`` picks, among chat models that fit (and whose file fits on the
disk when free space is known), the highest ``parameters x quantization
quality`` (a bigger model at Q4_K_M beats a smaller one at Q8_0; below Q4
quality drops fast), ties broken by catalog order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from backend.modelhub.catalog import Catalog, CatalogEntry, load_catalog
from backend.modelhub.disk import human
from backend.modelhub.machine import Machine

Label = Literal["fits", "slow", "won't fit"]

GIB = 1 << 30
KIB = 1 << 10
DEFAULT_CTX = 4096
EMBEDDER_BYTES = GIB // 2
COMPUTE_BYTES = GIB // 2
SMALL_MODEL_OVERHEAD = GIB // 4
KV_PER_TOKEN_GUESS = 128 * KIB
KV_ELEMENT_BYTES = 2
CPU_FITS_SHARE = 0.60
METAL_FITS_SHARE = 0.65
VRAM_USABLE_SHARE = 0.90
CPU_BYTES_PER_S_PER_CORE = 4e9
CPU_BYTES_PER_S_MAX = 60e9
USABLE_TOKENS_PER_S = 8.0

# Relative quality of a quantization (1.0 = unquantized), rough consensus of
# llama.cpp perplexity measurements. Only used to rank candidates.
QUANT_QUALITY = {
    "F32": 1.0, "BF16": 1.0, "F16": 1.0, "FP16": 1.0, "Q8_0": 0.995,
    "Q6_K": 0.99, "Q5_K_M": 0.975, "Q5_K_S": 0.97, "Q5_0": 0.965, "Q5_1": 0.965,
    "Q4_K_M": 0.95, "Q4_K_S": 0.935, "IQ4_XS": 0.935, "IQ4_NL": 0.935,
    "Q4_1": 0.92, "Q4_0": 0.9, "Q3_K_L": 0.86, "Q3_K_M": 0.83, "IQ3_M": 0.83,
    "Q3_K_S": 0.78, "Q2_K": 0.6, "IQ2_M": 0.6,
}  # fmt: skip
UNKNOWN_QUANT_QUALITY = 0.85


def headroom(ram_bytes: int) -> int:
    """Memory left for the OS and other programs: max(1.5 GiB, 20 % of RAM)."""
    return max(3 * GIB // 2, ram_bytes // 5)


@dataclass(frozen=True)
class Fit:
    """The verdict for one model at one quantization on one machine."""

    name: str
    quant: str
    label: Label
    weights_bytes: int
    kv_bytes: int
    need_bytes: int
    """weights + KV + compute buffers: what must sit in (V)RAM."""
    total_bytes: int
    """``need_bytes`` plus the embedder: what the machine must hold."""
    disk_ok: bool
    basis: str


def kv_cache_bytes(
    n_ctx: int, layers: int | None, kv_heads: int | None, head_dim: int | None
) -> tuple[int, str]:
    """KV-cache bytes for ``n_ctx`` tokens, and how they were computed."""
    if layers and kv_heads and head_dim:
        size = 2 * layers * kv_heads * head_dim * n_ctx * KV_ELEMENT_BYTES
        how = (f"KV cache {human(size)} (2 x {layers} layers x {kv_heads} KV heads x "
               f"{head_dim} dims x {n_ctx:,} tokens x 2 bytes)")  # fmt: skip
        return size, how
    size = KV_PER_TOKEN_GUESS * n_ctx
    return size, f"KV cache ~{human(size)} (rule of thumb: 128 KiB x {n_ctx:,} tokens)"


def cpu_tokens_per_s(weights: int, machine: Machine) -> float | None:
    """Estimated CPU decode speed (module docstring); None when cores are unknown."""
    if machine.cpu_cores <= 0 or weights <= 0:
        return None
    bandwidth = min(machine.cpu_cores * CPU_BYTES_PER_S_PER_CORE, CPU_BYTES_PER_S_MAX)
    return bandwidth / weights


def _label(total: int, need: int, weights: int, machine: Machine) -> tuple[Label, str]:
    ram = machine.ram_bytes
    budget = ram - headroom(ram)
    slow_rule = f"'slow' up to RAM - OS headroom ({human(budget)})"
    if machine.gpu == "cuda" and machine.vram_bytes > 0:
        vram = int(machine.vram_bytes * VRAM_USABLE_SHARE)
        rule = (f"GPU: 'fits' when the model ({human(need)}) is within 90% of "
                f"{human(machine.vram_bytes)} VRAM ({human(vram)}); {slow_rule}")  # fmt: skip
        if need <= vram and total - need <= budget:
            return "fits", rule
    elif machine.gpu == "metal":
        limit = int(ram * METAL_FITS_SHARE)
        rule = (f"Metal (unified memory): 'fits' up to 65% of {human(ram)} RAM "
                f"({human(limit)}); {slow_rule}")  # fmt: skip
        if total <= limit:
            return "fits", rule
    else:
        limit = int(ram * CPU_FITS_SHARE)
        rule = f"CPU only: 'fits' up to 60% of {human(ram)} RAM ({human(limit)}); {slow_rule}"
        speed = cpu_tokens_per_s(weights, machine)
        if speed is not None:
            rule += (f"; decoding ~{speed:.0f} tokens/s on {machine.cpu_cores} cores "
                     f"(~4 GB/s per core / {human(weights)}; 'fits' needs "
                     f"{USABLE_TOKENS_PER_S:.0f})")  # fmt: skip
        if total <= limit and (speed is None or speed >= USABLE_TOKENS_PER_S):
            return "fits", rule
    if total <= budget:
        return "slow", rule
    return "won't fit", rule


def estimate(
    weights_bytes: int,
    machine: Machine,
    *,
    name: str = "",
    quant: str = "",
    n_ctx: int = DEFAULT_CTX,
    layers: int | None = None,
    kv_heads: int | None = None,
    head_dim: int | None = None,
    chat: bool = True,
    with_embedder: bool = True,
) -> Fit:
    """Label a model of ``weights_bytes`` on ``machine`` (rules in the module docstring).

    Args:
        weights_bytes: the model file's size (all parts).
        machine: the machine to fit.
        name, quant: carried into the result.
        n_ctx: the context the model will run with.
        layers, kv_heads, head_dim: attention shape; any None -> rule of thumb.
        chat: False for embedders/rerankers (no KV cache, small overhead).
        with_embedder: count the knowledge base's embedder beside it.

    Returns:
        The label, the figures and the basis text.
    """
    parts = [f"weights {human(weights_bytes)}"]
    if chat:
        kv, kv_how = kv_cache_bytes(n_ctx, layers, kv_heads, head_dim)
        need = weights_bytes + kv + COMPUTE_BYTES
        parts += [kv_how, f"compute buffers {human(COMPUTE_BYTES)}"]
    else:
        kv = 0
        need = weights_bytes + SMALL_MODEL_OVERHEAD
        parts.append(f"runtime {human(SMALL_MODEL_OVERHEAD)}")
    total = need
    if with_embedder:
        total += EMBEDDER_BYTES
        parts.append(f"embedder {human(EMBEDDER_BYTES)}")
    label, rule = _label(total, need, weights_bytes if chat else 0, machine)
    disk_ok = machine.disk_free_bytes is None or weights_bytes <= machine.disk_free_bytes
    basis = " + ".join(parts) + f" = {human(total)}. {rule}."
    if not disk_ok:
        basis += f" The download ({human(weights_bytes)}) exceeds the free disk space."
    return Fit(name, quant, label, weights_bytes, kv, need, total, disk_ok, basis)


def assess(
    entry: CatalogEntry, quant: str | None, machine: Machine, n_ctx: int = DEFAULT_CTX
) -> Fit:
    """Label catalog entry ``entry`` at ``quant`` (default: its default quant).

    Raises:
        KeyError: the entry has no such quant.
    """
    q = entry.quant(quant)
    chat = entry.kind == "chat"
    return estimate(
        q.bytes,
        machine,
        name=entry.name,
        quant=q.name,
        n_ctx=min(n_ctx, entry.context),
        layers=entry.layers,
        kv_heads=entry.kv_heads,
        head_dim=entry.head_dim,
        chat=chat,
        with_embedder=chat,
    )


def assess_catalog(
    machine: Machine, catalog: Catalog | None = None, n_ctx: int = DEFAULT_CTX
) -> list[Fit]:
    """Every (entry, quant) of the catalog labelled for ``machine``, in catalog order."""
    catalog = catalog or load_catalog()
    return [assess(e, q.name, machine, n_ctx) for e in catalog.entries for q in e.quants]


@dataclass(frozen=True)
class Recommendation:
    """The chat model and quantization ``recommend`` picked, and why."""

    entry: CatalogEntry
    fit: Fit
    reason: str


def quality(entry: CatalogEntry, quant: str) -> float:
    """The ranking score: parameters (billions) x quantization quality."""
    return entry.params_b * QUANT_QUALITY.get(quant.upper(), UNKNOWN_QUANT_QUALITY)


def recommend(
    machine: Machine, catalog: Catalog | None = None, n_ctx: int = DEFAULT_CTX
) -> Recommendation | None:
    """The best chat model/quant that fits ``machine`` with the context and the embedder.

    Args:
        machine: the machine.
        catalog: the catalog (default: the shipped one).
        n_ctx: the context to leave room for.

    Returns:
        The pick, or None when no catalog chat model fits (keep the bundled
        SmolLM2-135M).
    """
    catalog = catalog or load_catalog()
    best: tuple[float, int, Recommendation] | None = None
    for order, entry in enumerate(catalog.of_kind("chat")):
        for q in entry.quants:
            fit = assess(entry, q.name, machine, n_ctx)
            if fit.label != "fits" or not fit.disk_ok:
                continue
            score = quality(entry, q.name)
            if best is None or (score, -order) > (best[0], -best[1]):
                reason = (f"{entry.title} {q.name}: the largest model and best quantization "
                          f"that fits. {fit.basis}")  # fmt: skip
                best = (score, order, Recommendation(entry, fit, reason))
    return best[2] if best else None
