"""DPO tune-ups: a LoRA adapter trained on the user's preference pairs.

Training is trl's ``DPOTrainer`` (trl 1.16 API: ``DPOConfig`` is a
``TrainingArguments``; a conversational dataset of ``prompt``/``chosen``/
``rejected`` messages is rendered with the model's own chat template, the
same one the chat runtime and ``trainer.encode`` use). The reference model
is the base itself: we hand trl a peft model and no ``ref_model``, so it
computes reference log-probs with the adapter disabled; no second copy of
the weights is held in memory.

What it took to make trl fit this setup (and why we kept trl rather than a
hand-written loss): transformers marks a model loaded from GGUF as
"quantized with GGUF" and the ``Trainer`` refuses to train such a model,
although the weights are already dequantized float32 tensors (that is what
loading a GGUF does). ``_as_plain_weights`` drops that mark; nothing else
reads it. With it dropped, trl trains on the CPU as is. Everything else
(progress, cancel, the run directory) goes through a ``TrainerCallback``.

Loss: trl's ``sigmoid`` DPO loss plus a small ``sft`` term (NLL of the
chosen reply, weight ``sft_weight``; the RPO/MPO combination trl supports).
Plain DPO only widens the chosen-minus-rejected gap and on a few dozen
pairs often does it by pushing BOTH down ("likelihood displacement"); the
NLL term keeps the chosen replies likely, which is what the before/after
verdict (held-out NLL of preferred replies) measures. ``sft_weight=0``
is plain DPO. Weight 1.0 (RPO's): on the 200-turn benchmark history
(``benchmarks/tuneup.py``) 0.2 let held-out NLL rise (1.006 -> 1.030) and
greedy replies drift (adherence 0.80 -> 0.26); 1.0 gives NLL 1.006 ->
0.598 and adherence 0.80 -> 0.66, still short of the verdict's "not
worse", so SFT stays the method to use on a 135M model.

Bases: a GGUF file or a Hugging Face model folder, plain or quantized
(``trainer.hf_model``; ``quantize``/``device`` as in SFT). On a 4-bit or
8-bit base trl trains as is: the model it gets is already a peft model on a
bitsandbytes base (QLoRA), which is what the ``Trainer`` asks of a quantized
model; only the GGUF mark above is removed, never a bitsandbytes one.

Long chats: trl truncates ``keep_start``, i.e. it would cut the reply, so
the oldest turns of a prompt are dropped first (``fit_prompt``) to leave
room for the reply, as ``trainer.encode`` does for SFT.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from backend.common.locations import Locations
from trainer.dataset import PreferencePair, TuneupDataset, Turn
from trainer.encode import render_prompt
from trainer.errors import NotEnoughDataError, TrainingCancelled
from trainer.hf_model import Device, Quantize, load_base
from trainer.lora_run import add_lora, run_record
from trainer.runs import new_run_dir, write_run
from trainer.sft import Progress

MIN_TRAIN_PAIRS = 4
"""Fewer preference pairs than this give DPO nothing to generalise from."""


@dataclass(frozen=True)
class DPOConfig:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    beta: float = 0.1
    """Strength of the pull back to the reference (trl's default)."""
    sft_weight: float = 1.0
    """Weight of the chosen-reply NLL term (0 = plain DPO); see the module docstring."""
    learning_rate: float = 5e-4
    warmup_steps: int = 2
    max_steps: int = 30
    batch_size: int = 2
    """Pairs per step (each pair is two sequences, plus the reference pass)."""
    max_seq_len: int = 256
    seed: int = 0
    quantize: Quantize = "auto"
    """As ``SFTConfig.quantize`` (``auto``: 4-bit for a Hugging Face folder on CUDA)."""
    device: Device = "auto"


@dataclass
class DPOResult:
    run_dir: Path
    record: dict[str, Any] = field(default_factory=dict)
    model: Any = field(default=None, repr=False)
    """The trained peft model, still in memory (for evaluation), or None."""
    tokenizer: Any = field(default=None, repr=False)


def require_pairs(dataset: TuneupDataset) -> None:
    """Raises:
    NotEnoughDataError: too few pairs to train on, or none held out to evaluate."""
    s = dataset.summary
    if s.train_pairs >= MIN_TRAIN_PAIRS and s.heldout_pairs >= 1:
        return
    raise NotEnoughDataError(
        f"{s.train_pairs} training and {s.heldout_pairs} held-out preference pairs from "
        f"{s.conversations} conversations; a DPO tune-up needs at least {MIN_TRAIN_PAIRS} "
        "training pairs and 1 held-out pair. Pairs come from edited replies (your edit vs "
        "the original) and from regenerations where you gave one reply a thumbs up and "
        "another a thumbs down. Or run an SFT tune-up, which also learns from thumbs up."
    )


def fit_prompt(tokenizer: Any, prompt: tuple[Turn, ...], budget: int) -> tuple[Turn, ...]:
    """Drop the oldest non-system turns until the rendered prompt fits
    ``budget`` tokens (the system prompt and the last turn always stay)."""
    head = tuple(t for t in prompt[:1] if t.role == "system")
    rest = list(prompt[len(head) :])
    while len(rest) > 1:
        n = len(tokenizer(render_prompt(tokenizer, head + tuple(rest)))["input_ids"])
        if n <= budget:
            break
        rest.pop(0)
    return head + tuple(rest)


def _rows(tokenizer: Any, pairs: list[PreferencePair], max_len: int) -> list[dict[str, Any]]:
    def msgs(turns: tuple[Turn, ...]) -> list[dict[str, str]]:
        return [{"role": t.role, "content": t.content} for t in turns]

    return [
        {
            "prompt": msgs(fit_prompt(tokenizer, p.prompt, max_len // 2)),
            "chosen": [{"role": "assistant", "content": p.chosen}],
            "rejected": [{"role": "assistant", "content": p.rejected}],
        }
        for p in pairs
    ]


def _as_plain_weights(model: Any) -> None:
    # A GGUF-loaded model is dequantized float32, but keeps transformers'
    # "quantized: gguf" mark, which makes the Trainer refuse it.
    model.hf_quantizer = None
    model.is_quantized = False
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config


def _callback(
    cfg: DPOConfig,
    progress: Callable[[Progress], None] | None,
    cancel: threading.Event,
    losses: list[float],
) -> Any:
    from transformers import TrainerCallback

    class Report(TrainerCallback):
        started = time.perf_counter()

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.started = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if cancel.is_set():
                control.should_training_stop = True

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not logs or "loss" not in logs:
                return
            losses.append(float(logs["loss"]))
            if progress is not None:
                step = state.global_step
                elapsed = time.perf_counter() - self.started
                left = elapsed / max(1, step) * (cfg.max_steps - step)
                progress(Progress(step, cfg.max_steps, losses[-1], elapsed, left))
            # on_log comes after on_step_end: a cancel set while reporting this
            # step must stop here, not one step later.
            if cancel.is_set():
                control.should_training_stop = True

    return Report()


def train_dpo(
    dataset: TuneupDataset,
    base: Path,
    locations: Locations,
    model_name: str,
    config: DPOConfig | None = None,
    *,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
) -> DPOResult:
    """Train a LoRA adapter with DPO on ``dataset.train_pairs`` on top of
    ``base`` (a GGUF file or a Hugging Face model folder); returns the run
    directory (``run.json`` with ``method: "dpo"``) and the model.

    Raises:
        NotEnoughDataError: too few preference pairs (checked before loading).
        ModelError: the base cannot be loaded for training (or not as asked).
        TrainingCancelled: ``cancel`` was set; the partial run is removed.
    """
    import torch
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import DPOConfig as TrlDPOConfig
    from trl import DPOTrainer

    cfg = config or DPOConfig()
    require_pairs(dataset)
    cancel = cancel or threading.Event()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    loaded = load_base(base, cfg.quantize, cfg.device)
    model, tokenizer = loaded.model, loaded.tokenizer
    if loaded.kind == "gguf":
        _as_plain_weights(model)
    timings["load_s"] = time.perf_counter() - t0
    if cancel.is_set():
        raise TrainingCancelled(f"stopped at step 0 of {cfg.max_steps}")

    run_dir = new_run_dir(locations, model_name, "dpo")
    try:
        model = add_lora(model, cfg)
        losses: list[float] = []
        with tempfile.TemporaryDirectory(prefix="dpo-") as scratch:
            args = TrlDPOConfig(
                output_dir=scratch,
                max_steps=cfg.max_steps,
                per_device_train_batch_size=cfg.batch_size,
                learning_rate=cfg.learning_rate,
                lr_scheduler_type="cosine",
                warmup_steps=cfg.warmup_steps,
                beta=cfg.beta,
                loss_type=["sigmoid", "sft"] if cfg.sft_weight > 0 else ["sigmoid"],
                loss_weights=[1.0, cfg.sft_weight] if cfg.sft_weight > 0 else None,
                max_length=cfg.max_seq_len,
                logging_steps=1,
                save_strategy="no",
                report_to="none",
                use_cpu=loaded.device == "cpu",
                disable_tqdm=True,
                dataloader_num_workers=0,
                seed=cfg.seed,
            )
            trainer = DPOTrainer(
                model=model,
                args=args,
                train_dataset=Dataset.from_list(
                    _rows(tokenizer, dataset.train_pairs, cfg.max_seq_len)
                ),
                processing_class=tokenizer,
                callbacks=[_callback(cfg, progress, cancel, losses)],
            )
            # Reports go through our callback only (stdout is the job's protocol).
            trainer.remove_callback(PrinterCallback)
            trainer.remove_callback(ProgressCallback)
            t_train = time.perf_counter()
            trainer.train()
            timings["train_s"] = time.perf_counter() - t_train
        steps = len(losses)
        if cancel.is_set():
            raise TrainingCancelled(f"stopped at step {steps} of {cfg.max_steps}")
        timings["s_per_step"] = timings["train_s"] / max(1, steps)
        model = cast(Any, trainer.model)
        model.eval()
        model.save_pretrained(str(run_dir))
        timings["total_s"] = time.perf_counter() - t0
        metrics = {
            "train_loss_first": losses[0] if losses else None,
            "train_loss_last": losses[-1] if losses else None,
            "losses": losses,
        }
        record = run_record("dpo", model_name, loaded, cfg, dataset, metrics, timings, model)
        write_run(run_dir, record)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return DPOResult(run_dir, record, model, tokenizer)


def default_steps(pairs: int, batch_size: int = DPOConfig.batch_size) -> int:
    """About two passes over the pairs, within 15..40 steps (a DPO step of 2
    pairs -- two sequences each, plus the reference pass -- took 6.0 s on the
    benchmark against 3.4 s for an SFT step of 4 examples)."""
    return max(15, min(40, math.ceil(2 * pairs / batch_size)))
