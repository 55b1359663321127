"""A tune-up as one process: dataset -> train -> evaluate -> export -> validate.

The backend starts this (``backend.tuneup.job``; it never imports the trainer)::

    python -m trainer.job --home DIR --model NAME (--base-gguf PATH | --base-hf DIR)
                          --method sft|dpo [--quantize auto|none|4bit|8bit]
                          [--device auto|cpu|cuda] [--exclude CONVERSATION_ID ...]
                          [--steps N] [--dry-run]

``--base-gguf`` tunes a llama.cpp model (its GGUF file); ``--base-hf`` a
transformers-runtime model (its Hugging Face folder), which may be loaded
4/8-bit for QLoRA (``--quantize``; policy in ``trainer.hf_model``:
``auto`` is 4-bit on CUDA, none on the CPU).

Protocol: stdout carries ONLY report lines, one JSON object per line,
flushed as it happens (everything a library prints, at the Python or the C
level, is redirected to stderr, which the backend logs)::

    {"event": "dataset", <DatasetSummary fields>, "problem": str|null, "method": "sft"|"dpo"}
    {"event": "progress", "step": int, "total": int, "loss": float, "eta_s": float}
    {"event": "eval", "base": {...}, "tuned": {...}, "verdict": {...}}
        base/tuned: {"heldout_nll": float, "adherence": float|null,
                     "preference_margin": float|null, "samples": [str]}
        verdict: {"helps": bool, "summary": str, "reasons": [str]}
    {"event": "done", "run_dir": str|null, "run_id": str|null, "verdict": {...}|null,
     "gguf": str|null, "dry_run": bool,
     "base_kind": "gguf"|"hf", "export_skipped": str|null}   (the last two: not on a dry run)
    {"event": "error", "type": str, "title": str, "message": str}
    {"event": "cancelled", "message": str}

Exactly one final event (``done``, ``error`` or ``cancelled``) ends every
run. Exit status: 0 after ``done`` or ``cancelled``, 1 after ``error``, 2
for bad arguments (argparse's usage message on stderr, no report line).
``--dry-run`` reports the dataset and ends with ``done`` (``run_dir``
null) without loading a model. Too little data is an ``error`` of type
``NotEnoughDataError`` whose message says what is missing and how to get it;
a ``--home`` without a profile database is a ``NotFoundError``.

Cancel: SIGTERM (or SIGINT), or stdin reaching end-of-file when stdin is a
pipe (so a parent that dies takes the job with it; a /dev/null or terminal
stdin is not watched, since it would read as closed at once). The job stops
at the next training step or between phases, removes its run directory,
reports ``cancelled`` and exits 0: a cancelled or failed tune-up leaves no
run behind.

A finished run directory (``backend.modelfiles.adapters`` layout) holds ``run.json``
with ``method``, ``base`` (kind, path, quantize, device, dtype),
``config``, ``dataset``, ``metrics`` (training losses plus the base/tuned
figures), ``verdict``, ``timings`` and ``gguf``; the peft adapter; and,
for a GGUF base, ``adapter.gguf``, already checked against the base. For
a Hugging Face base export and the GGUF check are skipped: ``gguf`` is
null and ``export``/``validation`` say ``{"skipped": <why>}`` (the
transformers runtime loads the peft adapter itself); ``done`` carries the
same reason as ``export_skipped``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import stat
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

from backend.common.errors import AssistantError, ModelError, NotFoundError
from backend.common.hf_offline import hf_offline
from backend.common.layer_pauses import standing_aside
from backend.common.locations import Locations
from backend.common.reply_gate import ReplyGate
from trainer.dataset import TuneupDataset, load_dataset
from trainer.errors import TrainingCancelled
from trainer.hf_model import DEVICE_CHOICES, NO_GGUF_REASON, QUANTIZE_CHOICES, base_kind
from trainer.sft import Progress


class Reporter:
    """Writes report lines to the real stdout, which nobody else may use."""

    def __init__(self) -> None:
        sys.stdout.flush()
        self._out: TextIO = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
        os.dup2(2, 1)  # fd 1 (C printf) and sys.stdout (print) now go to stderr
        sys.stdout = sys.stderr
        self._lock = threading.Lock()

    def __call__(self, event: str, **data: Any) -> None:
        with self._lock:
            self._out.write(json.dumps({"event": event, **data}, default=str) + "\n")
            self._out.flush()


def _watch_cancel(cancel: threading.Event) -> None:
    def on_signal(signum: int, frame: Any) -> None:
        cancel.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return

    def read_until_eof() -> None:
        while os.read(0, 4096):
            pass
        cancel.set()

    threading.Thread(target=read_until_eof, name="stdin-watch", daemon=True).start()


def _check(cancel: threading.Event, where: str) -> None:
    if cancel.is_set():
        raise TrainingCancelled(f"stopped {where}")


def _train(args: argparse.Namespace, ds: TuneupDataset, report: Reporter, cancel: Any) -> Any:
    def on_progress(p: Progress) -> None:
        report("progress", step=p.step, total=p.total, loss=p.loss, eta_s=round(p.eta_s, 1))
        args.gate.wait_idle(cancel)  # a reply is being generated: it has the cores

    if args.method == "dpo":
        from trainer.dpo import DPOConfig, default_steps, train_dpo

        steps = args.steps or default_steps(ds.summary.train_pairs)
        cfg = DPOConfig(max_steps=steps, quantize=args.quantize, device=args.device)
        return cfg, train_dpo(
            ds, args.base, Locations(args.home), args.model, cfg,
            progress=on_progress, cancel=cancel,
        )  # fmt: skip
    from trainer.sft import SFTConfig, train_sft
    from trainer.sft import default_steps as sft_steps

    steps = args.steps or sft_steps(ds.summary.train_sft)
    scfg = SFTConfig(max_steps=steps, evaluate=False, quantize=args.quantize, device=args.device)
    return scfg, train_sft(
        ds, args.base, Locations(args.home), args.model, scfg,
        progress=on_progress, cancel=cancel,
    )  # fmt: skip


def run(args: argparse.Namespace, report: Reporter, cancel: threading.Event) -> None:
    """The whole tune-up; raises on failure (``main`` turns it into a report)."""
    started = time.perf_counter()
    if not (args.home / "assistant.db").is_file():
        raise NotFoundError(f"no assistant profile at {args.home} (no assistant.db there)")
    kind = _check_base(args)
    ds = load_dataset(Locations(args.home), exclude_conversations=args.exclude)
    report("dataset", method=args.method, **ds.summary.as_dict(), **args.resources)
    if args.dry_run:
        report("done", run_dir=None, run_id=None, verdict=None, gguf=None, dry_run=True)
        return
    if args.method == "dpo":
        from trainer.dpo import require_pairs

        require_pairs(ds)
    else:
        ds.require_enough()
    _check(cancel, "before training")
    cfg, result = _train(args, ds, report, cancel)
    run_dir: Path = result.run_dir
    try:
        from trainer.evaluate import evaluate_tuneup, minilm_embed
        from trainer.export_gguf import export_gguf_lora
        from trainer.runs import write_run
        from trainer.validate import validate_adapter

        _check(cancel, "after training")
        t = time.perf_counter()
        base, tuned, verdict = evaluate_tuneup(
            result.model, result.tokenizer, ds, cfg.max_seq_len, minilm_embed()
        )
        eval_s = time.perf_counter() - t
        report("eval", base=base.as_dict(), tuned=tuned.as_dict(), verdict=verdict.as_dict())
        _check(cancel, "after evaluation")
        t = time.perf_counter()
        gguf: Path | None = None
        skipped = NO_GGUF_REASON if kind == "hf" else None
        if kind == "gguf":
            gguf = export_gguf_lora(run_dir, args.base)
            info = validate_adapter(gguf, args.base)
        export_s = time.perf_counter() - t
        _check(cancel, "after export")

        record = dict(result.record)
        record["method"] = args.method
        record["metrics"] = {
            **record.get("metrics", {}),
            "heldout_nll_base": base.heldout_nll,
            "heldout_nll_tuned": tuned.heldout_nll,
            "adherence_base": base.adherence,
            "adherence_tuned": tuned.adherence,
            "preference_margin_base": base.preference_margin,
            "preference_margin_tuned": tuned.preference_margin,
        }
        record["eval"] = {"base": base.as_dict(), "tuned": tuned.as_dict()}
        record["verdict"] = verdict.as_dict()
        if gguf is not None:
            record["gguf"] = {"file": gguf.name, "size": gguf.stat().st_size, "check": repr(info)}
        else:
            record["gguf"] = None
            record["export"] = record["validation"] = {"skipped": skipped}
        record["timings"] = {
            **record.get("timings", {}),
            "eval_s": eval_s,
            "export_s": export_s,
            "job_s": time.perf_counter() - started,
        }
        write_run(run_dir, record)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    report(
        "done", run_dir=str(run_dir), run_id=run_dir.name, verdict=verdict.as_dict(),
        gguf=str(gguf) if gguf else None, base_kind=kind, export_skipped=skipped,
        dry_run=False,
    )  # fmt: skip


def _check_base(args: argparse.Namespace) -> str:
    """The base's kind, which must be the one its flag names.

    Raises:
        ModelError: nothing at the path, or a folder given as ``--base-gguf``
            (a file as ``--base-hf``).
    """
    kind = base_kind(args.base)
    if kind == "hf" and args.base_gguf is not None:
        raise ModelError(
            f"--base-gguf {args.base} is a folder; a Hugging Face model folder is --base-hf"
        )
    if kind == "gguf" and args.base_hf is not None:
        raise ModelError(
            f"--base-hf {args.base} is a file, not a Hugging Face model folder "
            "(config.json + *.safetensors + tokenizer); a GGUF file is --base-gguf"
        )
    return kind


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m trainer.job", description=__doc__.split("\n")[0])
    p.add_argument("--home", type=Path, required=True, help="the profile's data directory")
    p.add_argument("--model", required=True, help="model name (names the run folder)")
    base = p.add_mutually_exclusive_group(required=True)
    base.add_argument("--base-gguf", type=Path, help="the GGUF being tuned (llama.cpp models)")
    base.add_argument(
        "--base-hf", type=Path, help="the Hugging Face model folder being tuned (transformers)"
    )
    p.add_argument("--method", choices=["sft", "dpo"], default="sft")
    p.add_argument(
        "--quantize", choices=QUANTIZE_CHOICES, default="auto",
        help="load the base 4/8-bit for QLoRA (Hugging Face bases; auto: 4bit on CUDA)",
    )  # fmt: skip
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="cpu, cuda or auto")
    p.add_argument("--exclude", type=int, action="append", default=[], metavar="ID")
    p.add_argument("--steps", type=int, help="training steps (default: chosen from the data)")
    p.add_argument("--dry-run", action="store_true", help="only report the dataset")
    p.add_argument(
        "--nice", type=int, default=0,
        help="lower this process's priority by so much first (the chat's replies come first)",
    )  # fmt: skip
    p.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    args = p.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        p.error("--steps must be at least 1")
    args.base = args.base_gguf if args.base_gguf is not None else args.base_hf
    args.resources = {}
    args.gate = ReplyGate(args.home / "replying.lock")
    return args


def _share_the_machine(args: argparse.Namespace) -> dict[str, int]:
    """Lower priority and fewer threads, before torch starts its pools:
    training may slow down while the user chats; the chat must not."""
    if args.nice > 0 and hasattr(os, "nice"):
        os.nice(args.nice)
    if args.threads:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.threads)
        import torch

        torch.set_num_threads(args.threads)
    import torch

    return {
        "nice": os.nice(0) if hasattr(os, "nice") else 0,
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    hf_offline()
    args.resources = _share_the_machine(args)
    report = Reporter()
    cancel = threading.Event()
    _watch_cancel(cancel)
    try:
        # torch is loaded (above): a reply pauses training between layers
        # and gradients, not only between steps (``layer_pauses``)
        with standing_aside(lambda: args.gate.wait_idle(cancel)):
            run(args, report, cancel)
    except TrainingCancelled as err:
        report("cancelled", message=str(err))
        return 0
    except AssistantError as err:
        report("error", type=type(err).__name__, title=err.title, message=str(err))
        return 1
    except Exception as err:
        traceback.print_exc()
        report("error", type=type(err).__name__, title="Tune-up failed", message=str(err))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
