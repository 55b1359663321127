"""The Tune-up screen (f11) with a FakeRuntime backend: a job's reports
(from a real child process speaking the job protocol) drive the progress
bar and status, cancel stops it, the adapter table activates (refusing one
that did not help unless forced) and rolls back; a model that is not a
local GGUF gets a clear message. The real training job is tested in
tests/trainer."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Label

from assistant.app import AssistantApp
from assistant.screens.tuneup import TuneupScreen
from backend.local.backend import Backend
from backend.local.tuneups import TuneupBase
from backend.modelfiles.adapters import new_run_dir, write_run
from backend.modelfiles.catalog import ModelInfo

from .helpers import SIZE, MakeBackend, make_app, notices, settle, wait_for

JOB = textwrap.dedent(
    """
    import json, signal, sys, time
    def say(**kw): print(json.dumps(kw), flush=True)
    signal.signal(signal.SIGTERM, lambda *a: (say(event="cancelled"), sys.exit(0)))
    say(event="dataset", train_sft=12, heldout_sft=3)
    for step in range(1, 5):
        say(event="progress", step=step, total=8, loss=2.0 / step, eta_s=8 - step)
        time.sleep(0.05)
    sys.stdin.readline() if sys.argv[1] == "wait" else None
    time.sleep(60 if sys.argv[1] == "wait" else 0)
    say(event="done", run_dir="x", verdict={"helps": True, "summary": "NLL 3.40 -> 1.20"})
    """
)


def fake_jobs(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, modes: list[str]
) -> list[dict[str, Any]]:
    """Make the real ``start_tuneup`` run ``JOB`` (one mode per call) on the
    fake model: its base is a stand-in and its command the script; returns
    what each start asked for."""
    script = tmp_path / "job.py"
    script.write_text(JOB)
    calls: list[dict[str, Any]] = []

    def command(*args: Any, **kwargs: Any) -> list[str]:
        _home, _model, _base, method, exclude, steps, dry_run = args[:7]
        calls.append(
            {"method": method, "exclude": list(exclude), "steps": steps, "dry_run": dry_run}
        )
        return [sys.executable, str(script), modes.pop(0)]

    base = TuneupBase(ModelInfo("fake-model", "fake"), tmp_path / "fake.gguf", "gguf")
    monkeypatch.setattr("backend.local.tuneups.job_command", command)
    monkeypatch.setattr(backend.tuneups, "_base_of", lambda model: base)
    return calls


def status(app: AssistantApp) -> str:
    return str(app.screen.query_one("#tuneup-status", Label).render())


def rows(app: AssistantApp) -> list[tuple[str, ...]]:
    t = app.screen.query_one("#adapters", DataTable)
    return [tuple(str(c) for c in t.get_row_at(i)) for i in range(t.row_count)]


def add_run(home: Path, model: str, helps: bool) -> str:
    from backend.common.locations import Locations

    run = new_run_dir(Locations(home), model)
    verdict = {"helps": helps, "summary": "NLL 3.4 -> 2.1" if helps else "NLL 3.4 -> 3.6"}
    write_run(run, {"kind": "sft", "model": model, "verdict": verdict})
    (run / "adapter.gguf").write_bytes(b"GGUF")
    return run.name


async def test_tuneup_screen_follows_a_job_and_manages_adapters(
    backends: MakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = backends()
    app = make_app(backend)

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f11")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TuneupScreen)
        assert rows(app) == [("", "no adapters yet", "", "", "", "")]

        # the fake model is not a GGUF: a clear refusal, nothing starts
        await pilot.press("s")
        await wait_for(pilot, lambda: "not a local GGUF" in status(app))

        fake_jobs(backend, monkeypatch, tmp_path, ["quick", "wait"])
        await pilot.press("s")
        await wait_for(pilot, lambda: status(app).startswith("Done:"), timeout=30)
        assert "NLL 3.40 -> 1.20" in status(app)
        assert not screen.query_one("#tuneup-progress").display

        await pilot.press("d")
        await wait_for(pilot, lambda: "step 4/8" in status(app), timeout=30)
        bar = screen.query_one("#tuneup-progress")
        assert bar.display and bar.progress == 4 and bar.total == 8  # type: ignore[attr-defined]
        await pilot.press("s")
        assert "A tune-up is running; x cancels it" in notices(app)
        await pilot.press("x")
        await wait_for(pilot, lambda: "Cancelled" in status(app), timeout=30)

        good = add_run(app.backend.locations.home, "fake-model", helps=True)
        bad = add_run(app.backend.locations.home, "fake-model", helps=False)
        screen.load()
        await wait_for(pilot, lambda: len(rows(app)) == 2)
        by_id = {r[1]: i for i, r in enumerate(rows(app))}
        table = screen.query_one("#adapters", DataTable)

        table.move_cursor(row=by_id[bad])
        await pilot.press("a")
        await wait_for(pilot, lambda: "did not help" in status(app))
        assert all(r[0] == "" for r in rows(app))
        await pilot.press("A")
        await wait_for(pilot, lambda: rows(app)[by_id[bad]][0] == "●")

        table.move_cursor(row=by_id[good])
        await pilot.press("a")
        await wait_for(pilot, lambda: rows(app)[by_id[good]][0] == "●")
        assert rows(app)[by_id[bad]][0] == ""
        assert (await backend.tuneups.list_adapters())[by_id[good]].active

        await pilot.press("r")
        await wait_for(pilot, lambda: "Rolled back" in status(app))
        await wait_for(pilot, lambda: all(r[0] == "" for r in rows(app)))

        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, TuneupScreen)
