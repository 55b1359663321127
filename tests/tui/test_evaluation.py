"""The evaluation screen on a real knowledge base (MiniLM) with a
FakeRuntime: the history table and Recall@5 sparkline, a run of the
own-corpus evaluation with its progress bar, and cancelling one."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.widgets import DataTable, Label, Sparkline

from assistant.app import AssistantApp
from assistant.screens.evaluation import EvaluationScreen

from .helpers import SIZE, MakeBackend, make_app, notices, settle, wait_for

RUN_TIMEOUT = 120.0


def rows(app: AssistantApp) -> list[tuple[str, ...]]:
    t = app.screen.query_one("#runs", DataTable)
    return [tuple(str(c) for c in t.get_row_at(i)) for i in range(t.row_count)]


def status(app: AssistantApp) -> str:
    return str(app.screen.query_one("#eval-status", Label).render())


async def prepare(backends: MakeBackend, tmp_path: Path) -> None:
    """An indexed folder, three generated questions and one earlier run."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "garden.md").write_text(
        "# Garden\n\nTomatoes need plenty of sunlight and regular watering in summer. "
        "Pinch out the side shoots every week so the plant puts its energy into fruit.\n"
    )
    (folder / "pancakes.md").write_text(
        "# Pancakes\n\nMix flour, eggs and milk into a smooth batter and let it rest. "
        "Fry each pancake in a hot buttered pan until golden brown on both sides.\n"
    )
    (folder / "travel.md").write_text(
        "# Norway\n\nThe fjords near Bergen are best visited by ferry in June. "
        "Book the coastal express early because cabins sell out months ahead.\n"
    )
    backend = backends()
    await backend.start()
    await backend.documents.add_folder(str(folder))
    await backend.documents.index()
    assert await backend.evaluation.generate_questions(str(folder), 3, use_model=False) == 3
    await backend.core.run(
        backend.core.stores.evals.save_run,
        "own",
        n=3,
        metrics={"default": {"recall@1": 0.0, "recall@5": 0.25, "mrr@10": 0.1}},
        label="before",
    )
    await backend.close()


async def test_history_run_and_cancel(backends: MakeBackend, tmp_path: Path) -> None:
    await prepare(backends, tmp_path)
    app = make_app(backends())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f10")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EvaluationScreen)
        assert len(rows(app)) == 1 and rows(app)[0][6] == "0.250"
        assert rows(app)[0][-1] == "before"
        assert list(screen.query_one("#trend", Sparkline).data or []) == [0.25]
        assert "3 generated questions" in status(app)

        await pilot.press("x")
        assert "No evaluation is running" in notices(app)

        await pilot.press("r")
        await wait_for(pilot, lambda: not screen.running, timeout=RUN_TIMEOUT)
        await settle(pilot)
        table = rows(app)
        assert len(table) == 2
        newest = table[0]
        assert newest[2] == "own" and newest[3] == "3" and newest[4] == "default"
        assert newest[-1] == "tui"
        recall5 = float(newest[6])
        assert 0.0 <= recall5 <= 1.0
        assert newest[7] == f"{recall5 - 0.25:+.3f}"  # change since the earlier run
        assert list(screen.query_one("#trend", Sparkline).data or []) == [0.25, recall5]
        assert status(app).startswith("Run ") and "Recall@5" in status(app)
        assert not screen.query_one("#eval-progress").display
        runs = await app.backend.evaluation.eval_runs()
        assert [r.label for r in runs] == ["before", "tui"]
        assert set(runs[-1].metrics) == {"keyword", "dense", "hybrid", "hybrid+rerank", "default"}

        # hold retrieval until Cancel is pressed, so the run is surely in flight
        gate = asyncio.Event()
        real_retrieve = app.backend.documents.retrieve

        async def gated(*args: Any, **kwargs: Any) -> Any:
            await gate.wait()
            return await real_retrieve(*args, **kwargs)

        app.backend.documents.retrieve = gated  # type: ignore[method-assign]
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.running)
        await pilot.press("x")
        assert status(app) == "Cancelling…"
        gate.set()
        await wait_for(pilot, lambda: not screen.running, timeout=RUN_TIMEOUT)
        await settle(pilot)
        assert "Cancelled" in status(app)
        assert len(rows(app)) == 2 and len(await app.backend.evaluation.eval_runs()) == 2

        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, EvaluationScreen)
