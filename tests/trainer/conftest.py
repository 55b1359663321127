"""What the trainer tests share: one torch thread, one load of the bundled
GGUF, one trained style tune-up, and the GGUF job started ahead.

Time (two cores, nothing else running): the package took 370 s; now about
150 s. The two long job processes (``gguf_sft_job`` here,
``test_hf_base.backend_hf_tuneup``) are started ahead of the tests that
check them and run on the second core while the in-process tests, on one
torch thread, use the first."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from backend.common.locations import Locations
from backend.modelfiles.catalog import BUNDLED_MODEL_NAME, bundled_model_path

from .history import TOPICS, build_history
from .jobs import job, start_ahead

if TYPE_CHECKING:
    from trainer.dataset import TuneupDataset
    from trainer.sft import Progress, SFTConfig, SFTResult

BASE = bundled_model_path()
assert BASE is not None


@pytest.fixture(scope="package", autouse=True)
def _trainer_process(bundled_dequantized: Any) -> Iterator[None]:
    """For the tests of this package:

    * One torch thread, here and (``OMP_NUM_THREADS``) in the ``trainer.job``
      processes they start. On two cores shared with other processes
      torch's OpenMP threads spin-wait for each other: measured with a
      concurrent test run, a LoRA step took 6-31 s on two threads and 2.1 s
      on one, and the GGUF job test 436 s (46 s on a quiet machine).
    * The bundled GGUF is dequantized once (``bundled_dequantized``):
      ``trainer.hf_model.load_hf_model`` of that file returns a fresh copy
      of the one load, so every in-process training on it still starts from
      exactly what ``load_hf_model`` returns. Job processes load it
      themselves (``test_job``'s end-to-end job).
    """
    import torch

    from trainer import hf_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    load = hf_model.load_hf_model

    def load_once(path: Path) -> tuple[Any, Any]:
        return bundled_dequantized.copy() if path == BASE else load(path)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        mp.setattr(hf_model, "load_hf_model", load_once)
        yield
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class StyleRun:
    """The style tune-up of ``style_run``."""

    locations: Locations
    dataset: TuneupDataset
    config: SFTConfig
    result: SFTResult
    """The run directory, its record and the trained model (in memory)."""
    progress: list[Progress]


STYLE_STEPS = 12


@pytest.fixture(scope="package")
def style_run(tmp_path_factory: pytest.TempPathFactory, _trainer_process: None) -> StyleRun:
    """One real SFT tune-up on the bundled GGUF, shared by the tests that
    check what it learned (``test_tuneup_e2e``: export, llama.cpp, chat;
    ``test_evaluate``: the before/after evaluation): 40 chats, every reply
    edited into the persona style (32 train, 8 held out).

    12 steps of 4 examples (96 tokens, lr 2e-3). Measured on this history
    (seeds 0-2): 8 steps do not yet teach the style (llama.cpp 0/4 replies
    in the persona, adherence drops), 10 do (4/4, held-out NLL 3.41 ->
    0.13, adherence 0.56 -> 0.92), 12 leave a margin (NLL -> 0.05); 20, as
    this was before, only overfits further (NLL -> 0.01) at twice the cost.
    """
    from trainer.dataset import load_dataset
    from trainer.sft import SFTConfig, train_sft

    assert BASE is not None
    locations = Locations(tmp_path_factory.mktemp("style") / "home")
    asyncio.run(build_history(locations))
    ds = load_dataset(locations).require_enough()
    seen: list[Progress] = []
    cfg = SFTConfig(max_steps=STYLE_STEPS, batch_size=4, max_seq_len=96, learning_rate=2e-3)
    result = train_sft(ds, BASE, locations, BUNDLED_MODEL_NAME, cfg, progress=seen.append)
    return StyleRun(locations, ds, cfg, result, seen)


@dataclass(frozen=True)
class StartedJob:
    locations: Locations
    proc: subprocess.Popen[str]
    log: Path
    """The job's stderr."""


@pytest.fixture(scope="package")
def gguf_sft_job(
    tmp_path_factory: pytest.TempPathFactory, _trainer_process: None
) -> Iterator[StartedJob]:
    """``python -m trainer.job`` tuning the bundled GGUF end to end (SFT, 4
    steps, conversation 1 excluded), started, not waited for: checked by
    ``test_job.test_sft_job_trains_evaluates_exports``. Most of the ~35 s it
    takes is one torch thread (the GGUF load alone is 15-25 s), so started
    with the package (``_start_jobs_ahead``) it runs on the second core while
    the tests before it use the first."""
    home = tmp_path_factory.mktemp("gguf-job") / "home"
    locations = Locations(home)
    asyncio.run(build_history(locations, TOPICS[:11]))
    log = home.parent / "job.log"
    with log.open("w") as stderr:
        proc = job(home, "--method", "sft", "--steps", "4", "--exclude", "1", stderr=stderr)
    yield StartedJob(locations, proc, log)
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.fixture(scope="package", autouse=True)
def _start_jobs_ahead(request: pytest.FixtureRequest) -> None:
    start_ahead(request, "gguf_sft_job")
