"""What SFT and DPO runs share: the LoRA adapter put on the base, and the
``run.json`` record a finished run writes (``backend.modelfiles.adapters`` layout)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Protocol

from trainer.dataset import TuneupDataset
from trainer.hf_model import TrainBase


class LoraSettings(Protocol):
    """The LoRA fields both method configs carry (a frozen dataclass)."""

    @property
    def rank(self) -> int: ...
    @property
    def alpha(self) -> int: ...
    @property
    def dropout(self) -> float: ...
    @property
    def target_modules(self) -> tuple[str, ...]: ...


def add_lora(model: Any, cfg: LoraSettings) -> Any:
    """``model`` as a peft model with a fresh LoRA adapter (only it trains)."""
    from peft import LoraConfig, get_peft_model

    return get_peft_model(
        model,
        LoraConfig(
            r=cfg.rank,
            lora_alpha=cfg.alpha,
            lora_dropout=cfg.dropout,
            target_modules=list(cfg.target_modules),
            bias="none",
            task_type="CAUSAL_LM",
        ),
    )


def base_fields(loaded: TrainBase) -> dict[str, Any]:
    """What ``run.json`` says about the base: ``base`` (kind, path, size,
    quantize, device, dtype), and for a GGUF base also ``base_gguf`` and
    ``base_size`` as before."""
    fields: dict[str, Any] = {"base": loaded.describe()}
    if loaded.kind == "gguf":
        fields.update(base_gguf=str(loaded.path), base_size=loaded.path.stat().st_size)
    return fields


def run_record(
    method: str,
    model_name: str,
    loaded: TrainBase,
    cfg: Any,
    dataset: TuneupDataset,
    metrics: dict[str, Any],
    timings: dict[str, float],
    model: Any,
) -> dict[str, Any]:
    """The ``run.json`` of a trained run (the job adds the evaluation, the
    verdict and the export to it)."""
    return {
        "kind": method,
        "method": method,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model_name,
        **base_fields(loaded),
        "config": {**asdict(cfg), "target_modules": list(cfg.target_modules)},
        "dataset": dataset.summary.as_dict(),
        "metrics": metrics,
        "timings": timings,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }
