"""LoRA supervised fine-tuning on the user's preferred replies.

A deliberately small, plain torch loop (no Trainer): it reads top to bottom,
reports progress through a callback and stops at a ``threading.Event``.
LoRA on the attention projections (q, k, v, o) of a frozen base: a few
hundred thousand trainable parameters, which a laptop CPU trains in
minutes and llama.cpp applies at load time from a small GGUF file.

The base is a GGUF file or a Hugging Face model folder
(``trainer.hf_model``: ``quantize`` and ``device`` in the config pick
plain LoRA or QLoRA, CPU or CUDA; the resolved choice is recorded in
``run.json`` under ``base``).
"""

from __future__ import annotations

import math
import random
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.common.locations import Locations
from trainer.dataset import TuneupDataset
from trainer.encode import collate, encode
from trainer.errors import TrainingCancelled
from trainer.evaluate import heldout_nll, target_token_nll
from trainer.hf_model import Device, Quantize, load_base
from trainer.lora_run import add_lora, run_record
from trainer.runs import new_run_dir, write_run


@dataclass(frozen=True)
class SFTConfig:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    learning_rate: float = 1e-3
    """High for LoRA-on-a-135M-model standards because runs are short (tens of steps)."""
    warmup_steps: int = 3
    max_steps: int = 60
    batch_size: int = 4
    max_seq_len: int = 256
    seed: int = 0
    evaluate: bool = True
    """Measure held-out NLL before and after (costs two passes over held-out)."""
    quantize: Quantize = "auto"
    """``none``, ``4bit`` (QLoRA), ``8bit``; ``auto``: 4-bit for a Hugging Face
    folder on CUDA, else none (policy in ``trainer.hf_model``)."""
    device: Device = "auto"
    """``cpu``, ``cuda``; ``auto``: CUDA when torch sees a GPU."""


@dataclass(frozen=True)
class Progress:
    step: int
    total: int
    loss: float
    elapsed_s: float
    eta_s: float


@dataclass
class SFTResult:
    run_dir: Path
    record: dict[str, Any] = field(default_factory=dict)
    model: Any = field(default=None, repr=False)
    """The trained peft model, still in memory (for evaluation), or None."""
    tokenizer: Any = field(default=None, repr=False)


def _lr_at(step: int, cfg: SFTConfig) -> float:
    # Linear warm-up: the fresh LoRA B matrices are zero, so early large steps
    # only add noise; then cosine decay to 10% so the last steps refine rather
    # than jump.
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    done = (step - cfg.warmup_steps) / span
    return cfg.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done)))


def train_sft(
    dataset: TuneupDataset,
    base: Path,
    locations: Locations,
    model_name: str,
    config: SFTConfig | None = None,
    *,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
) -> SFTResult:
    """Train a LoRA adapter on ``dataset.train`` on top of ``base`` (a GGUF
    file or a Hugging Face model folder); returns the run directory.

    Raises:
        NotEnoughDataError: the dataset is too small (checked before loading).
        ModelError: the base cannot be loaded for training (or not as asked).
        TrainingCancelled: ``cancel`` was set; the partial run is removed.
    """
    import torch

    cfg = config or SFTConfig()
    dataset.require_enough()
    cancel = cancel or threading.Event()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    loaded = load_base(base, cfg.quantize, cfg.device)
    model, tokenizer = loaded.model, loaded.tokenizer
    timings["load_s"] = time.perf_counter() - t0

    run_dir = new_run_dir(locations, model_name, "sft")
    try:
        model = add_lora(model, cfg)
        metrics: dict[str, Any] = {}
        t = time.perf_counter()
        if cfg.evaluate:
            with model.disable_adapter():
                metrics["heldout_nll_base"] = heldout_nll(
                    model, tokenizer, dataset.heldout, cfg.max_seq_len
                )
        timings["eval_base_s"] = time.perf_counter() - t

        encoded = [encode(tokenizer, ex, cfg.max_seq_len) for ex in dataset.train]
        params = [p for p in model.parameters() if p.requires_grad]
        optim = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
        rng = random.Random(cfg.seed)
        order: list[int] = []
        losses: list[float] = []
        model.train()
        t_train = time.perf_counter()
        for step in range(cfg.max_steps):
            if cancel.is_set():
                raise TrainingCancelled(f"stopped at step {step} of {cfg.max_steps}")
            # Epochs over a reshuffled order, so every example is seen before
            # any is seen twice.
            batch_idx: list[int] = []
            while len(batch_idx) < min(cfg.batch_size, len(encoded)):
                if not order:
                    order = rng.sample(range(len(encoded)), len(encoded))
                batch_idx.append(order.pop())
            batch = collate([encoded[i] for i in batch_idx], tokenizer.pad_token_id)
            batch = {k: v.to(loaded.device) for k, v in batch.items()}
            for group in optim.param_groups:
                group["lr"] = _lr_at(step, cfg)
            loss = target_token_nll(model, batch)[0].mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optim.step()
            optim.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            if progress is not None:
                elapsed = time.perf_counter() - t_train
                left = elapsed / (step + 1) * (cfg.max_steps - step - 1)
                progress(Progress(step + 1, cfg.max_steps, losses[-1], elapsed, left))
        timings["train_s"] = time.perf_counter() - t_train
        timings["s_per_step"] = timings["train_s"] / max(1, cfg.max_steps)

        t = time.perf_counter()
        if cfg.evaluate:
            metrics["heldout_nll_tuned"] = heldout_nll(
                model, tokenizer, dataset.heldout, cfg.max_seq_len
            )
        timings["eval_tuned_s"] = time.perf_counter() - t
        metrics["train_loss_first"] = losses[0] if losses else None
        metrics["train_loss_last"] = losses[-1] if losses else None
        metrics["losses"] = losses

        model.eval()
        model.save_pretrained(str(run_dir))
        timings["total_s"] = time.perf_counter() - t0
        record = run_record("sft", model_name, loaded, cfg, dataset, metrics, timings, model)
        write_run(run_dir, record)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return SFTResult(run_dir, record, model, tokenizer)


def default_steps(examples: int, batch_size: int = SFTConfig.batch_size) -> int:
    """About three passes over the examples, within 20..60 steps (the e2e
    scenario learns a style in 20; 60 keeps a laptop run near 5 minutes)."""
    return max(20, min(60, math.ceil(3 * examples / batch_size)))
