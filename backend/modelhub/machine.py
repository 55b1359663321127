"""What this machine has for running models: RAM, GPU memory, free disk.

The fit estimates (``fit.py``) are pure functions of a ``Machine`` record, so
tests (and "what if" questions) can describe any machine; ``detect_machine``
fills one in for the real one:

- RAM: ``psutil.virtual_memory().total``;
- NVIDIA GPUs: ``torch.cuda`` when torch is *already imported* (importing
  torch only to ask would cost seconds and hundreds of MB), else
  ``nvidia-smi --query-gpu=memory.total,name``; several GPUs add up (llama.cpp
  splits layers across them by default);
- Apple Silicon: Metal shares the unified memory with the CPU, so there is
  no separate VRAM figure (``gpu="metal"``, ``vram_bytes=0``);
- disk: free space of the models folder's file system.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psutil

from backend.modelhub.disk import free_bytes

GPUKind = Literal["none", "cuda", "metal"]
MIB = 1 << 20


@dataclass(frozen=True)
class Machine:
    """The resources a model must fit into.

    ``vram_bytes`` is dedicated GPU memory (CUDA), 0 otherwise;
    ``disk_free_bytes`` is None when unknown (then disk is not checked).
    """

    ram_bytes: int
    gpu: GPUKind = "none"
    vram_bytes: int = 0
    disk_free_bytes: int | None = None
    gpu_name: str = ""
    cpu_cores: int = 0
    """Physical CPU cores (0: unknown); decoding on the CPU scales with them."""


def _torch_cuda() -> tuple[int, str] | None:
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        if not torch.cuda.is_available():
            return None
        count = torch.cuda.device_count()
        total = sum(int(torch.cuda.get_device_properties(i).total_memory) for i in range(count))
        return total, str(torch.cuda.get_device_name(0))
    except Exception:
        return None


def parse_nvidia_smi(output: str) -> tuple[int, str] | None:
    """Sum ``memory.total`` (MiB) over the lines of
    ``nvidia-smi --query-gpu=memory.total,name --format=csv,noheader,nounits``.

    Returns:
        (bytes, first GPU's name), or None when no line parses.
    """
    total, names = 0, []
    for line in output.strip().splitlines():
        mib, _, name = line.partition(",")
        try:
            total += int(float(mib.strip())) * MIB
        except ValueError:
            continue
        names.append(name.strip())
    return (total, names[0]) if names else None


def _nvidia_smi() -> tuple[int, str] | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=memory.total,name", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=5, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_nvidia_smi(out.stdout)


def detect_machine(models_dir: Path | None = None) -> Machine:
    """Describe this machine.

    Args:
        models_dir: the folder models are downloaded to (for free disk);
            None leaves ``disk_free_bytes`` unknown.

    Returns:
        The machine; never raises (an undetectable GPU counts as none).
    """
    ram = int(psutil.virtual_memory().total)
    cores = psutil.cpu_count(logical=False) or psutil.cpu_count() or 0
    disk = None
    if models_dir is not None:
        try:
            disk = free_bytes(models_dir)
        except OSError:
            disk = None
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return Machine(ram, "metal", 0, disk, "Apple Silicon (unified memory)", cores)
    cuda = _torch_cuda() or _nvidia_smi()
    if cuda is not None:
        return Machine(ram, "cuda", cuda[0], disk, cuda[1], cores)
    return Machine(ram, "none", 0, disk, cpu_cores=cores)
