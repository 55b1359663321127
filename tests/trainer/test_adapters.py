"""The adapter registry (backend.modelfiles.adapters), the facade's model resolution
with the active adapter, the llama.cpp runtime refusing a bad adapter
before llama.cpp sees it, the tune-up job runner (backend.tuneup.job) on real
child processes, and the `assistant adapters` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from backend import Backend
from backend.common.config import Settings
from backend.common.errors import AdapterError, NotFoundError
from backend.common.events import Done, ErrorEvent
from backend.common.locations import Locations
from backend.modelfiles.adapters import (
    activate,
    active_adapter,
    adapters,
    deactivate,
    new_run_dir,
    write_run,
)
from backend.modelfiles.catalog import BUNDLED_MODEL_NAME, ModelInfo, bundled_model_path
from backend.runtimes.base import ChatMessage, GenerationRequest
from backend.runtimes.fake import FakeRuntime
from backend.runtimes.llamacpp import LlamaCppRuntime
from backend.tuneup.job import TuneupJob, job_command, parse_line


def make_run(locations: Locations, model: str, helps: bool | None, gguf: bool = True) -> str:
    run = new_run_dir(locations, model)
    record: dict[str, object] = {"kind": "sft", "model": model, "metrics": {"heldout_nll": 1.0}}
    if helps is not None:
        record["verdict"] = {"helps": helps, "summary": "NLL 3.4 -> 2.1"}
    write_run(run, record)
    if gguf:
        (run / "adapter.gguf").write_bytes(b"GGUF")
    return run.name


def test_activation_rules_and_rollback(locations: Locations) -> None:
    good = make_run(locations, "m", helps=True)
    bad = make_run(locations, "m", helps=False)
    unexported = make_run(locations, "m", helps=True, gguf=False)
    assert {a.run_id for a in adapters(locations, "m")} == {good, bad, unexported}
    assert active_adapter(locations, "m") is None

    with pytest.raises(AdapterError, match=r"did not help.*--force"):
        activate(locations, bad)
    with pytest.raises(AdapterError, match=r"no exported adapter\.gguf"):
        activate(locations, unexported, force=True)
    with pytest.raises(NotFoundError):
        activate(locations, "nope")

    assert activate(locations, good).active
    assert (
        active_adapter(locations, "m") == locations.home / "adapters" / "m" / good / "adapter.gguf"
    )
    assert activate(locations, bad, force=True).active  # one active per model
    assert [a.run_id for a in adapters(locations) if a.active] == [bad]
    assert deactivate(locations, "m") is True
    assert deactivate(locations, "m") is False
    assert active_adapter(locations, "m") is None


def test_a_deleted_run_means_no_adapter(locations: Locations) -> None:
    run = make_run(locations, "m", helps=True)
    activate(locations, run)
    (locations.home / "adapters" / "m" / run / "adapter.gguf").unlink()
    assert active_adapter(locations, "m") is None


async def test_the_facade_resolves_the_active_adapter(locations: Locations) -> None:
    b = await Backend.open(
        locations=locations,
        settings=Settings(default_model="fake-model"),
        runtimes=[FakeRuntime()],
    )
    try:
        run = make_run(locations, "fake-model", helps=None)
        assert b.models.resolve(None)[1].adapter is None
        await b.tuneups.activate_adapter(run)
        model = b.models.resolve(None)[1]
        assert model.adapter is not None and model.adapter.parent.name == run
        assert model.log_name == f"fake-model+{run}"
        await (await b.chat.send(None, "hi")).collect()
        (row,) = await b.telemetry.request_log(limit=1)
        assert row.model == f"fake-model+{run}"
        assert await b.tuneups.deactivate_adapter() is True
        assert b.models.resolve(None)[1].adapter is None
    finally:
        await b.close()


@pytest.mark.real_model
def test_llamacpp_refuses_a_bad_adapter_without_crashing(
    locations: Locations, tmp_path: Path
) -> None:
    """llama.cpp aborts on a wrong adapter file; the runtime checks first
    and reports it as an error event. The base model itself is no adapter."""
    base = bundled_model_path()
    assert base is not None
    runtime = LlamaCppRuntime(Settings(), locations)
    try:
        junk = tmp_path / "junk.gguf"
        junk.write_bytes(b"GGUF" + b"\0" * 64)
        for adapter in (junk, base):
            model = ModelInfo(BUNDLED_MODEL_NAME, "llamacpp", path=base, adapter=adapter)
            events = list(
                runtime.stream(
                    GenerationRequest(model, [ChatMessage("user", "hi")]), threading.Event()
                )
            )
            assert isinstance(events[0], ErrorEvent) and events[0].title == "Adapter problem"
            assert events[-1] == Done("error")
    finally:
        runtime.close()


# ---------------------------------------------------------------- job runner

JOB = textwrap.dedent(
    """
    import json, signal, sys, time
    def say(**kw): print(json.dumps(kw), flush=True)
    mode = sys.argv[1]
    signal.signal(signal.SIGTERM, lambda *a: (say(event="cancelled"), sys.exit(0)))
    print("a library chatting on stdout", flush=True)
    say(event="dataset", train_sft=12)
    for step in range(1, 4):
        say(event="progress", step=step, total=3, loss=1.0 / step, eta_s=3 - step)
    if mode == "die":
        sys.exit(3)
    if mode == "hang":
        time.sleep(60)
    say(event="done", run_dir="/x/run", verdict={"helps": True})
    """
)


async def run_job(tmp_path: Path, mode: str, cancel_at: int | None = None) -> list[str]:
    script = tmp_path / "job.py"
    script.write_text(JOB)
    job = TuneupJob([sys.executable, str(script), mode], tmp_path / "logs" / "job.log")
    seen = []
    async for update in job.updates():
        seen.append(update.event)
        if update.event == "progress" and update.data["step"] == cancel_at:
            job.cancel()
    assert not job.running or job._proc.wait(5) is not None
    return seen


async def test_job_reports_parse_and_finish(tmp_path: Path) -> None:
    assert await run_job(tmp_path, "ok") == ["dataset", "progress", "progress", "progress", "done"]


async def test_a_job_that_dies_ends_as_an_error(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(JOB)
    job = TuneupJob([sys.executable, str(script), "die"], tmp_path / "job.log")
    updates = [u async for u in job.updates()]
    assert updates[-1].event == "error"
    assert "exited with code 3" in updates[-1].data["message"]


async def test_cancel_stops_the_job(tmp_path: Path) -> None:
    assert (await run_job(tmp_path, "hang", cancel_at=3))[-1] == "cancelled"


def test_report_lines_and_command() -> None:
    assert parse_line("not json") is None
    assert parse_line('{"no": "event"}') is None
    update = parse_line('{"event": "progress", "step": 2, "total": 8}')
    assert update is not None and update.fraction == 0.25 and not update.final
    cmd = job_command(Path("/h"), "m", Path("/b.gguf"), "dpo", [3, 4], steps=10, dry_run=True)
    assert cmd[1:3] == ["-m", "trainer.job"]
    assert cmd[cmd.index("--method") + 1] == "dpo"
    assert cmd.count("--exclude") == 2 and "--dry-run" in cmd


async def test_one_tuneup_at_a_time_and_gguf_only(locations: Locations) -> None:
    from backend.tuneup.records import TuneupBusyError

    b = await Backend.open(
        locations=locations, settings=Settings(default_model="fake-model"), runtimes=[FakeRuntime()]
    )
    try:
        from backend.common.errors import ModelError

        with pytest.raises(ModelError, match="not a local GGUF"):
            await b.tuneups.start_tuneup()
        with pytest.raises(ValueError, match="unknown tune-up method"):
            await b.tuneups.start_tuneup("ppo")
        b.tuneups._job = TuneupJob(
            [sys.executable, "-c", "import time; time.sleep(30)"], locations.logs / "x.log"
        )
        with pytest.raises(TuneupBusyError):
            await b.tuneups.start_tuneup()
    finally:
        await b.close()  # stops the job
    assert b.tuneups._job is not None and b.tuneups._job._proc.wait(5) is not None


# ---------------------------------------------------------------- CLI


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        capture_output=True,
        text=True,
        env={"ASSISTANT_HOME": str(home), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )


def test_adapters_cli(locations: Locations) -> None:
    home = locations.home
    assert "no tune-up runs yet" in cli(home, "adapters", "list").stdout
    run = make_run(locations, BUNDLED_MODEL_NAME, helps=False)
    listed = json.loads(cli(home, "adapters", "list", "--json").stdout)
    assert [(a["run_id"], a["helps"], a["active"]) for a in listed] == [(run, False, False)]
    refused = cli(home, "adapters", "activate", run)
    assert refused.returncode == 1 and "Adapter problem" in refused.stderr
    assert cli(home, "adapters", "activate", run, "--force").returncode == 0
    assert json.loads(cli(home, "adapters", "list", "--json").stdout)[0]["active"] is True
    out = cli(home, "adapters", "deactivate")
    assert out.returncode == 0 and "rolled back" in out.stdout


def test_tune_cli_runs_the_real_job(locations: Locations) -> None:
    """`assistant tune` starts the real trainer job on the bundled model:
    a dry run reports the data and trains nothing; with no feedback yet a
    tune-up refuses with what to do."""
    preview = cli(locations.home, "tune", "--dry-run", "--json")
    assert preview.returncode == 0, preview.stderr
    events = [json.loads(line) for line in preview.stdout.splitlines()]
    assert [e["event"] for e in events] == ["dataset", "done"]
    assert events[0]["train_sft"] == 0 and "thumbs up" in events[0]["problem"]
    assert events[1]["dry_run"] is True and events[1]["run_dir"] is None
    refused = cli(locations.home, "tune")
    assert refused.returncode == 1
    assert "Not enough tune-up data" in refused.stderr
    assert not (locations.home / "adapters").exists() or not any(
        (locations.home / "adapters").glob("*/*")
    )
