"""``python -m trainer.job`` as the backend runs it: a real child process
whose stdout is nothing but the JSON-line report; too little data is a
clear error; a finished run is evaluated, exported and validated; SIGTERM
and a closed stdin pipe cancel it and leave no run directory."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backend.common.locations import Locations
from backend.modelfiles.catalog import BUNDLED_MODEL_NAME, bundled_model_path
from backend.store.db import Database
from trainer.runs import adapters_root
from trainer.validate import validate_adapter

from .test_dpo import build_preference_history
from .test_tuneup_e2e import TOPICS, build_history

BASE = bundled_model_path()
assert BASE is not None


def job(home: Path, *extra: str, stdin: Any = subprocess.DEVNULL) -> subprocess.Popen[str]:
    assert BASE is not None
    cmd = [sys.executable, "-m", "trainer.job", "--home", str(home), "--model", BUNDLED_MODEL_NAME]
    cmd += ["--base-gguf", str(BASE), *extra]
    return subprocess.Popen(
        cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def events(proc: subprocess.Popen[str], timeout: float = 600) -> list[dict[str, Any]]:
    out, err = proc.communicate(timeout=timeout)
    lines = [json.loads(line) for line in out.splitlines()]  # every stdout line is JSON
    assert lines, err[-3000:]
    return lines


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
async def test_sft_job_trains_evaluates_exports(locations: Locations) -> None:
    await build_history(locations)
    p = job(locations.home, "--method", "sft", "--steps", "4", "--exclude", "1")
    seen = events(p)
    assert p.returncode == 0, seen[-1]
    names = [e["event"] for e in seen]
    assert names == ["dataset"] + ["progress"] * 4 + ["eval", "done"]
    assert seen[0]["excluded_conversations"] == [1] and seen[0]["method"] == "sft"
    assert [e["step"] for e in seen[1:5]] == [1, 2, 3, 4] and seen[4]["eta_s"] == 0
    ev, done = seen[5], seen[6]
    for side in ("base", "tuned"):
        assert ev[side]["heldout_nll"] > 0 and 0 < ev[side]["adherence"] <= 1
        assert ev[side]["samples"]
    assert done["verdict"] == ev["verdict"] and isinstance(done["verdict"]["helps"], bool)

    run_dir = Path(done["run_dir"])
    record = json.loads((run_dir / "run.json").read_text())
    assert record["method"] == "sft" and record["verdict"] == done["verdict"]
    assert record["metrics"]["heldout_nll_base"] == ev["base"]["heldout_nll"]
    assert record["metrics"]["adherence_tuned"] == ev["tuned"]["adherence"]
    assert len(record["metrics"]["losses"]) == 4 and record["config"]["max_steps"] == 4
    assert done["gguf"] == str(run_dir / "adapter.gguf")
    assert BASE is not None
    validate_adapter(Path(done["gguf"]), BASE)


def read_until_progress(proc: subprocess.Popen[str]) -> list[dict[str, Any]]:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(json.loads(line))
        if seen[-1]["event"] in ("progress", "done", "error"):
            break
    return seen


@pytest.mark.real_model
async def test_sigterm_cancels_a_dpo_job_cleanly(locations: Locations) -> None:
    await build_preference_history(locations, TOPICS[:12])
    p = job(locations.home, "--method", "dpo", "--steps", "40")
    first = read_until_progress(p)
    assert first[-1]["event"] == "progress", first
    p.send_signal(signal.SIGTERM)
    rest = events(p, 300)
    assert rest[-1]["event"] == "cancelled" and "of 40" in rest[-1]["message"]
    assert p.returncode == 0
    assert not any(adapters_root(locations).glob("*/*"))


@pytest.mark.real_model
async def test_closing_stdin_cancels(locations: Locations) -> None:
    await build_history(locations)
    p = job(locations.home, "--method", "sft", "--steps", "60", stdin=subprocess.PIPE)
    assert read_until_progress(p)[-1]["event"] == "progress"
    assert p.stdin is not None
    p.stdin.close()
    p.stdin = None  # communicate() must not touch it again
    rest = events(p, 300)
    assert rest[-1]["event"] == "cancelled" and p.returncode == 0
    assert not any(adapters_root(locations).glob("*/*"))
