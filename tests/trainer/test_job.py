"""``python -m trainer.job`` as the backend runs it: a real child process
whose stdout is nothing but the JSON-line report; too little data is a
clear error; a finished run is evaluated, exported and validated; SIGTERM
and a closed stdin pipe cancel it and leave no run directory.

One job trains on the bundled GGUF end to end (loading a GGUF takes a job
15-25 s: transformers parses and dequantizes it). The cancel tests are about
the job's signals and pipes, not the base, so they tune the session's
Hugging Face folder of the same model (``hf_dir``, loaded in 1-2 s) and
cancel at the first progress report."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from backend.common.locations import Locations
from backend.store.db import Database
from trainer.runs import adapters_root
from trainer.validate import validate_adapter

from .conftest import StartedJob
from .history import TOPICS, build_history, build_preference_history
from .jobs import BASE, events, job, read_until_progress


def test_dry_run_and_not_enough_data(locations: Locations) -> None:
    p = job(locations.home, "--dry-run")
    (err,) = events(p, 120)
    assert err["type"] == "NotFoundError" and "no assistant profile" in err["message"]
    assert p.returncode == 1 and not locations.home.exists()

    Database(locations.ensure().database).close()  # an empty profile, as the app makes it
    p = job(locations.home, "--method", "sft", "--dry-run")
    (ds, done) = events(p, 120)
    assert p.returncode == 0
    assert ds["event"] == "dataset" and ds["conversations"] == 0 and ds["problem"]
    assert done == {
        "event": "done", "run_dir": None, "run_id": None, "verdict": None, "gguf": None,
        "dry_run": True,
    }  # fmt: skip

    p = job(locations.home, "--method", "dpo")
    (ds, err) = events(p, 120)
    assert p.returncode == 1
    assert err["event"] == "error" and err["type"] == "NotEnoughDataError"
    assert err["title"] == "Not enough tune-up data" and "training pairs" in err["message"]
    assert not adapters_root(locations).exists()


def test_bad_arguments_exit_2(locations: Locations) -> None:
    p = job(locations.home, "--method", "ppo")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and out == "" and "invalid choice" in err


@pytest.mark.real_model
def test_sft_job_trains_evaluates_exports(gguf_sft_job: StartedJob) -> None:
    """The whole job on the bundled GGUF: dataset, every step reported,
    evaluation, run.json, and the exported GGUF LoRA valid for the base.
    The job (``conftest.gguf_sft_job``) starts with the package, so its
    GGUF load and training run on the second core meanwhile; here its
    report is read and checked. Eleven chats, one excluded: 8 train and 2
    held out, the least a tune-up accepts, so the evaluation generates for
    two prompts, not eight; four steps (the figures are reported, not
    required to improve)."""
    p = gguf_sft_job.proc
    seen = events(p, log=gguf_sft_job.log)
    assert p.returncode == 0, seen[-1]
    names = [e["event"] for e in seen]
    assert names == ["dataset"] + ["progress"] * 4 + ["eval", "done"]
    assert seen[0]["excluded_conversations"] == [1] and seen[0]["method"] == "sft"
    assert (seen[0]["train_sft"], seen[0]["heldout_sft"]) == (8, 2)
    assert [e["step"] for e in seen[1:5]] == [1, 2, 3, 4] and seen[4]["eta_s"] == 0
    ev, done = seen[5], seen[6]
    for side in ("base", "tuned"):
        assert ev[side]["heldout_nll"] > 0 and 0 < ev[side]["adherence"] <= 1
        assert len(ev[side]["samples"]) == 2
    assert done["verdict"] == ev["verdict"] and isinstance(done["verdict"]["helps"], bool)

    run_dir = Path(done["run_dir"])
    assert run_dir.is_relative_to(adapters_root(gguf_sft_job.locations))
    record = json.loads((run_dir / "run.json").read_text())
    assert record["method"] == "sft" and record["verdict"] == done["verdict"]
    assert record["metrics"]["heldout_nll_base"] == ev["base"]["heldout_nll"]
    assert record["metrics"]["adherence_tuned"] == ev["tuned"]["adherence"]
    assert len(record["metrics"]["losses"]) == 4 and record["config"]["max_steps"] == 4
    assert done["gguf"] == str(run_dir / "adapter.gguf")
    assert BASE is not None
    validate_adapter(Path(done["gguf"]), BASE)


@pytest.mark.real_model
async def test_sigterm_cancels_a_dpo_job_cleanly(locations: Locations, hf_dir: Path) -> None:
    """SIGTERM during a DPO job (trl's loop) ends it with ``cancelled``, exit
    0, and no run directory."""
    await build_preference_history(locations, TOPICS[:12])
    p = job(locations.home, "--method", "dpo", "--steps", "40", base_hf=hf_dir)
    first = read_until_progress(p)
    assert first[-1]["event"] == "progress", first
    p.send_signal(signal.SIGTERM)
    rest = events(p, 300)
    assert rest[-1]["event"] == "cancelled" and "of 40" in rest[-1]["message"]
    assert p.returncode == 0
    assert not any(adapters_root(locations).glob("*/*"))


@pytest.mark.real_model
async def test_closing_stdin_cancels(locations: Locations, hf_dir: Path) -> None:
    """A parent that goes away (the job's stdin pipe closes) cancels an SFT
    job: ``cancelled``, exit 0, no run directory."""
    await build_history(locations, TOPICS[:10])
    p = job(
        locations.home, "--method", "sft", "--steps", "60", stdin=subprocess.PIPE, base_hf=hf_dir
    )
    assert read_until_progress(p)[-1]["event"] == "progress"
    assert p.stdin is not None
    p.stdin.close()
    p.stdin = None  # communicate() must not touch it again
    rest = events(p, 300)
    assert rest[-1]["event"] == "cancelled" and p.returncode == 0
    assert not any(adapters_root(locations).glob("*/*"))
