"""Fit labels and the recommendation on simulated machines; machine detection."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import psutil
import pytest

from backend.modelhub import machine as machine_mod
from backend.modelhub.catalog import load_catalog
from backend.modelhub.fit import assess, assess_catalog, estimate, quality, recommend
from backend.modelhub.machine import Machine, detect_machine, parse_nvidia_smi

GIB = 1 << 30
LAPTOP_8 = Machine(ram_bytes=8 * GIB)  # CPU only
GPU_16_8 = Machine(ram_bytes=16 * GIB, gpu="cuda", vram_bytes=8 * GIB, gpu_name="RTX 4060")
SMALL_4 = Machine(ram_bytes=4 * GIB)
MAC_16 = Machine(ram_bytes=16 * GIB, gpu="metal")


def _label(name: str, quant: str, m: Machine) -> str:
    entry = load_catalog().get(name)
    assert entry is not None
    return assess(entry, quant, m).label


@pytest.mark.parametrize(
    ("machine", "name", "quant", "label"),
    [
        (LAPTOP_8, "qwen2.5-3b", "Q4_K_M", "fits"),
        (LAPTOP_8, "qwen2.5-7b", "Q4_K_M", "slow"),  # 5.6 GiB: over 60% of 8 GiB
        (LAPTOP_8, "qwen3-8b", "Q8_0", "won't fit"),
        (GPU_16_8, "qwen3-8b", "Q4_K_M", "fits"),  # 5.7 GiB in 8 GiB VRAM
        (GPU_16_8, "qwen3-8b", "Q8_0", "slow"),  # not in VRAM, fits in RAM
        (GPU_16_8, "qwen3-8b", "Q6_K", "slow"),  # 7.3 GiB > 90% of VRAM
        (SMALL_4, "qwen2.5-1.5b", "Q4_K_M", "fits"),
        (SMALL_4, "qwen3-1.7b", "Q4_K_M", "slow"),  # its 8 KV heads cost 0.44 GiB
        (SMALL_4, "qwen2.5-3b", "Q4_K_M", "won't fit"),
        (MAC_16, "qwen3-8b", "Q4_K_M", "fits"),
        (MAC_16, "qwen3-8b", "Q8_0", "fits"),  # 9.7 GiB within 65% of unified memory
        (Machine(8 * GIB, "metal"), "qwen3-8b", "Q4_K_M", "slow"),
    ],
)
def test_fit_labels_on_simulated_machines(
    machine: Machine, name: str, quant: str, label: str
) -> None:
    assert _label(name, quant, machine) == label


def test_the_basis_shows_the_sums() -> None:
    entry = load_catalog().get("qwen2.5-7b")
    assert entry is not None
    fit = assess(entry, "Q4_K_M", LAPTOP_8, n_ctx=4096)
    # KV: 2 x 28 layers x 4 KV heads x 128 dims x 4096 tokens x 2 bytes
    assert fit.kv_bytes == 2 * 28 * 4 * 128 * 4096 * 2
    assert fit.need_bytes == 4_683_073_504 + fit.kv_bytes + GIB // 2
    assert fit.total_bytes == fit.need_bytes + GIB // 2
    assert "28 layers x 4 KV heads x 128 dims x 4,096 tokens" in fit.basis
    assert "CPU only: 'fits' up to 60% of 8.0 GiB RAM" in fit.basis
    gpu = assess(entry, "Q4_K_M", GPU_16_8)
    assert "within 90% of 8.0 GiB VRAM" in gpu.basis and gpu.label == "fits"
    # A longer context costs KV cache, and is capped at the model's trained length.
    long = assess(entry, "Q4_K_M", LAPTOP_8, n_ctx=1_000_000)
    assert long.kv_bytes == 2 * 28 * 4 * 128 * entry.context * 2


def test_unknown_architecture_uses_the_rule_of_thumb_and_disk_is_checked() -> None:
    m = Machine(ram_bytes=16 * GIB, disk_free_bytes=2 * GIB)
    fit = estimate(3 * GIB, m, name="someone/Model-GGUF", quant="Q4_K_M", n_ctx=2048)
    assert fit.kv_bytes == 128 * 1024 * 2048
    assert "rule of thumb" in fit.basis
    assert fit.label == "fits" and not fit.disk_ok
    assert "exceeds the free disk space" in fit.basis


def test_every_catalog_quant_gets_a_label() -> None:
    fits = assess_catalog(GPU_16_8)
    catalog = load_catalog()
    assert len(fits) == sum(len(e.quants) for e in catalog.entries)
    assert {f.label for f in fits} <= {"fits", "slow", "won't fit"}
    embedders = [f for f in fits if f.name == "bge-small-en"]
    assert embedders and embedders[0].kv_bytes == 0 and embedders[0].label == "fits"


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        (LAPTOP_8, ("qwen3-4b", "Q6_K")),
        (GPU_16_8, ("qwen3-8b", "Q4_K_M")),
        (SMALL_4, ("qwen2.5-1.5b", "Q5_K_M")),
        (Machine(ram_bytes=2 * GIB), None),  # nothing fits: keep the bundled model
    ],
)
def test_recommendation_is_the_best_model_that_fits(
    machine: Machine, expected: tuple[str, str] | None
) -> None:
    pick = recommend(machine)
    if expected is None:
        assert pick is None
        return
    assert pick is not None
    assert (pick.entry.name, pick.fit.quant) == expected
    assert pick.fit.label == "fits" and pick.reason
    catalog = load_catalog()
    # Nothing that fits scores higher.
    for fit in assess_catalog(machine):
        entry = catalog.get(fit.name)
        assert entry is not None
        if entry.kind == "chat" and fit.label == "fits":
            assert quality(entry, fit.quant) <= quality(pick.entry, pick.fit.quant)


def test_recommendation_respects_free_disk() -> None:
    roomy = recommend(GPU_16_8)
    assert roomy is not None
    tight = recommend(
        Machine(16 * GIB, "cuda", 8 * GIB, disk_free_bytes=roomy.fit.weights_bytes - 1)
    )
    assert tight is not None and tight.fit.weights_bytes < roomy.fit.weights_bytes


# Captured on a real machine with
# nvidia-smi --query-gpu=memory.total,name --format=csv,noheader,nounits
H200_SMI = "143771, NVIDIA H200\n"


def test_nvidia_smi_output_is_parsed() -> None:
    assert parse_nvidia_smi(H200_SMI) == (143771 << 20, "NVIDIA H200")
    assert parse_nvidia_smi(H200_SMI * 2) == (2 * 143771 << 20, "NVIDIA H200")
    assert parse_nvidia_smi("No devices were found\n") is None
    vram, name = parse_nvidia_smi(H200_SMI) or (0, "")
    big = Machine(128 * GIB, "cuda", vram, gpu_name=name)
    pick = recommend(big)
    assert pick is not None and (pick.entry.name, pick.fit.quant) == ("qwen3-8b", "Q8_0")


def test_detect_machine_reads_ram_disk_and_an_nvidia_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho '8188, NVIDIA GeForce RTX 4060'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(machine_mod, "_torch_cuda", lambda: None)
    m = detect_machine(tmp_path / "models-not-yet-created")
    assert m.ram_bytes == psutil.virtual_memory().total
    assert m.gpu == "cuda" and m.vram_bytes == 8188 << 20 and m.gpu_name.endswith("RTX 4060")
    assert m.disk_free_bytes is not None and m.disk_free_bytes > 0
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert detect_machine().gpu in ("none", "metal")


def test_on_the_cpu_a_model_too_big_to_decode_briskly_is_slow_however_much_ram() -> None:
    """CPU decoding is bound by memory bandwidth (~4 GB/s per core): with
    2 cores and 64 GiB, an 8B model fits in RAM but would decode at about one
    token a second, so it is 'slow'; the recommendation is a model that
    decodes at 8 tokens/s or more. With 8 cores the pick is larger."""
    catalog = load_catalog()
    entry = catalog.get("qwen3-8b")
    assert entry is not None
    two = Machine(ram_bytes=64 * GIB, cpu_cores=2)
    fit = assess(entry, "Q4_K_M", two)
    assert fit.label == "slow" and "tokens/s on 2 cores" in fit.basis
    small = recommend(two)
    big = recommend(Machine(ram_bytes=64 * GIB, cpu_cores=8))
    assert small is not None and big is not None
    assert small.fit.weights_bytes <= 8e9 / 8  # 8 tokens/s from 2 cores x 4 GB/s: <= 1 GB
    assert big.fit.weights_bytes > small.fit.weights_bytes
    assert Machine(ram_bytes=64 * GIB).cpu_cores == 0  # unknown cores: speed not judged
    assert assess(entry, "Q4_K_M", Machine(ram_bytes=64 * GIB)).label == "fits"
