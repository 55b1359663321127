"""Tune-ups and adapters over the RPC API (``backend.server.rpc_jobs``,
``backend.remote.jobs``), against a real uvicorn server on loopback with
the fake runtime. The fake model is no GGUF, so the server's tune-ups run a
real child process speaking the job protocol (``JOB``) instead of the
trainer; the Tune-up screen runs on a ``RemoteBackend``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from textual.widgets import DataTable
from tui.helpers import SIZE, settle, wait_for
from tui.test_tuneup import add_run, fake_jobs, rows, status

from assistant.app import AssistantApp
from assistant.screens.tuneup import TuneupScreen
from backend.common.errors import AdapterError, ModelError, NotFoundError
from backend.local.backend import Backend
from backend.remote import RemoteBackend
from backend.remote.jobs import RemoteTuneupJob
from backend.tuneup.records import TuneupBusyError, TuneupUpdate

from .conftest import Running


@pytest.fixture
async def remote(served: Running) -> AsyncIterator[RemoteBackend]:
    backend = await RemoteBackend.open(served.url, served.token)
    yield backend
    await backend.close()


def server_backend(served: Running) -> Backend:
    assert served.server.backend is not None
    return served.server.backend


async def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_adapters_list_activate_and_roll_back_over_http(
    served: Running, remote: RemoteBackend
) -> None:
    home = server_backend(served).locations.home
    assert await remote.tuneups.list_adapters() == []
    good = add_run(home, "fake-model", helps=True)
    bad = add_run(home, "fake-model", helps=False)
    listed = {a.run_id: a for a in await remote.tuneups.list_adapters()}
    assert set(listed) == {good, bad}
    assert listed[good].helps is True and listed[bad].helps is False
    assert listed[good].path == home / "adapters" / "fake-model" / good  # a Path again
    assert listed[good].gguf == listed[good].path / "adapter.gguf"
    assert await remote.tuneups.list_adapters(model="fake-other") == []

    with pytest.raises(AdapterError, match="did not help"):
        await remote.tuneups.activate_adapter(bad)
    assert not any(a.active for a in await remote.tuneups.list_adapters())
    forced = await remote.tuneups.activate_adapter(bad, force=True)
    assert forced.active and forced.run_id == bad
    assert (await remote.tuneups.activate_adapter(good)).active
    assert {a.run_id for a in await remote.tuneups.list_adapters() if a.active} == {good}
    with pytest.raises(NotFoundError):
        await remote.tuneups.activate_adapter("no-such-run")

    assert await remote.tuneups.deactivate_adapter() is True
    assert await remote.tuneups.deactivate_adapter("fake-model") is False
    assert not any(a.active for a in await remote.tuneups.list_adapters())


async def test_a_tuneup_streams_its_reports_and_is_cancelled_over_http(
    served: Running,
    remote: RemoteBackend,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    with pytest.raises(ModelError, match="not a local GGUF"):
        await remote.tuneups.start_tuneup("sft")  # the real start: the fake model is refused
    assert await remote.tuneups.current_tuneup() is None
    calls = fake_jobs(server_backend(served), monkeypatch, tmp_path, ["quick", "wait"])

    job = await remote.tuneups.start_tuneup("dpo", exclude=[3, 4], steps=8)
    assert isinstance(job, RemoteTuneupJob) and job.running
    current = await remote.tuneups.current_tuneup()
    assert isinstance(current, RemoteTuneupJob) and current.job_id == job.job_id
    assert calls == [{"method": "dpo", "exclude": [3, 4], "steps": 8, "dry_run": False}]
    seen = [u async for u in job.updates()]
    assert [u.event for u in seen] == ["dataset"] + ["progress"] * 4 + ["done"]
    assert seen[1] == TuneupUpdate("progress", {"step": 1, "total": 8, "loss": 2.0, "eta_s": 7})
    assert seen[-1].data["verdict"]["summary"] == "NLL 3.40 -> 1.20"
    assert job.last == seen[-1] and not job.running
    assert [u async for u in job.updates()] == []  # finished: nothing more

    # a long job: the client leaves its stream, the job goes on on the server
    job = await remote.tuneups.start_tuneup("sft")
    async for update in job.updates():
        if update.data.get("step") == 4:
            break
    assert job.running and job.last is not None and job.last.data["step"] == 4
    with pytest.raises(TuneupBusyError):
        await remote.tuneups.start_tuneup("sft")
    await asyncio.sleep(1.5)  # past a heartbeat: the server noticed the client left
    served_job = await server_backend(served).tuneups.current_tuneup()
    assert served_job is not None and served_job.running

    # a second client sees it running, replays its reports, and cancels it
    other = await RemoteBackend.open(served.url, served.token)
    try:
        watched = await other.tuneups.current_tuneup()
        assert isinstance(watched, RemoteTuneupJob) and watched.running
        assert watched.job_id == job.job_id and watched.last == job.last
        other.tuneups.cancel_tuneup()
        tail = [u async for u in watched.updates()]
        assert [u.event for u in tail] == ["cancelled"] and not watched.running
    finally:
        await other.close()
    resumed = [u async for u in job.updates()]  # the first client picks up where it left
    assert [u.event for u in resumed] == ["cancelled"] and not job.running
    await eventually(lambda: not served_job.running)


async def test_cancel_of_one_job_and_follow_errors(
    served: Running,
    remote: RemoteBackend,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    fake_jobs(server_backend(served), monkeypatch, tmp_path, ["wait"])
    job = await remote.tuneups.start_tuneup("sft")
    events: list[str] = []
    async for update in job.updates():
        events.append(update.event)
        if update.data.get("step") == 2:
            job.cancel()  # the job's own control route
    assert events[:3] == ["dataset", "progress", "progress"] and events[-1] == "cancelled"
    assert len(events) < 7 and not job.running  # it never reached "done"

    url = f"{served.url}/backend/jobs/{job.job_id}/follow"
    assert httpx.post(url, json={"after": 0}).status_code == 401
    gone = httpx.post(f"{served.url}/backend/jobs/nope/follow", headers=served.headers())
    assert gone.status_code == 404 and gone.json()["error"]["type"] == "NotFoundError"
    bad = httpx.post(url, json={"after": "x"}, headers=served.headers())
    assert bad.status_code == 400
    bad = httpx.post(
        f"{served.url}/backend/call/tuneups/start_tuneup",
        json={"steps": "many"},
        headers=served.headers(),
    )
    assert bad.status_code == 400 and "steps" in bad.json()["error"]["message"]
    with httpx.stream("POST", url, json={"after": 0}, headers=served.headers()) as replay:
        lines = [ln for ln in replay.iter_lines() if ln.strip() not in ("", "{}")]
    assert lines[0] == f'{{"job": "{job.job_id}"}}' and lines[-1] == '{"end": true}'
    assert len(lines) == len(events) + 2


async def test_tuneup_screen_on_a_remote_backend(
    served: Running, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = server_backend(served).locations.home
    good = add_run(home, "fake-model", helps=True)
    bad = add_run(home, "fake-model", helps=False)
    fake_jobs(server_backend(served), monkeypatch, tmp_path, ["quick"])
    remote = RemoteBackend(served.url, served.token)
    app = AssistantApp(remote)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f11")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TuneupScreen)
        await wait_for(pilot, lambda: {r[1] for r in rows(app)} == {good, bad})
        by_id = {r[1]: i for i, r in enumerate(rows(app))}
        table = screen.query_one("#adapters", DataTable)

        table.move_cursor(row=by_id[bad])
        await pilot.press("a")
        await wait_for(pilot, lambda: "did not help" in status(app))
        table.move_cursor(row=by_id[good])
        await pilot.press("a")
        await wait_for(pilot, lambda: rows(app)[by_id[good]][0] == "●")
        assert rows(app)[by_id[bad]][0] == ""
        active = [
            a.run_id for a in await server_backend(served).tuneups.list_adapters() if a.active
        ]
        assert active == [good]

        await pilot.press("s")  # a job on the server, followed by the screen
        await wait_for(pilot, lambda: status(app).startswith("Done:"), timeout=30)
        assert "NLL 3.40 -> 1.20" in status(app)
        await pilot.press("r")
        await wait_for(pilot, lambda: "Rolled back" in status(app))
        assert not any(a.active for a in await server_backend(served).tuneups.list_adapters())
