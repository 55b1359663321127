"""Evaluation history: how retrieval on the user's own documents (and on
question files) moved over time, and a button to measure it again.

The table lists runs newest first; the sparkline above it plots Recall@5 of
every retrieval run oldest to newest (the ``default`` mode, what chat uses,
when the run measured it), so a user sees at a glance whether a change to
chunking or models helped. ``r`` runs ``eval own`` on the generated
questions in a worker with a progress bar; ``x`` (or leaving the screen)
cancels it and nothing is saved.

The screen's run measures every mode except ``rewrite``, which makes one
model call per question and is too slow for an interactive button (the CLI
``assistant eval own --mode rewrite`` measures it).
"""

from __future__ import annotations

import threading
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, ProgressBar, Sparkline

from backend import AssistantAPI, AssistantError
from backend.api import EVAL_MODES, EvalCancelled, EvalProgress, EvalRun

SCREEN_MODES = tuple(m for m in EVAL_MODES if m != "rewrite")
TREND_METRIC = "recall@5"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def run_row(run: EvalRun, previous: EvalRun | None) -> tuple[str, ...]:
    """One table row; the change in Recall@5 is against the previous run of
    the same kind (blank for the first, or when either lacks the metric)."""
    now, before = run.metric(TREND_METRIC), previous.metric(TREND_METRIC) if previous else None
    delta = "" if now is None or before is None else f"{now - before:+.3f}"
    return (
        str(run.id),
        run.created_at.replace("T", " ")[:16],
        run.kind,
        str(run.n),
        run.mode or "",
        _num(run.metric("recall@1")),
        _num(now),
        delta,
        _num(run.metric("mrr@10")),
        _num(run.metric("passage_recall@5")),
        _num(run.metric("faithfulness")),
        _num(run.metric("citation_precision")),
        run.label,
    )


def trend(runs: list[EvalRun]) -> list[float]:
    """Recall@5 of the retrieval runs, oldest first."""
    return [v for r in runs if (v := r.metric(TREND_METRIC)) is not None]


class EvaluationScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape,q", "app.pop_screen", "Back"),
        ("r", "run_own", "Measure now"),
        ("x", "cancel_run", "Cancel"),
        ("f5", "reload", "Reload"),
    ]

    def __init__(self, backend: AssistantAPI) -> None:
        super().__init__()
        self.backend = backend
        self.cancel = threading.Event()
        self.running = False
        self.runs: list[EvalRun] = []

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Vertical(id="evaluation"):
            yield Label("Recall@5 over time", classes="section-title", id="trend-title")
            yield Sparkline([], id="trend")
            yield Label("", id="eval-status")
            yield ProgressBar(id="eval-progress", show_eta=False)
            yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Evaluation"
        self.sub_title = "retrieval quality on your documents, over time"
        self.query_one("#eval-progress", ProgressBar).display = False
        self.query_one("#runs", DataTable).add_columns(
            "Run", "Date", "Kind", "n", "Mode", "R@1", "R@5", "Δ R@5", "MRR@10", "pR@5",
            "Faithful", "Cite prec.", "Label",
        )  # fmt: skip
        self.load()

    def on_unmount(self) -> None:
        self.cancel.set()

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, group="eval-history", exit_on_error=False)
    async def load(self, keep_status: bool = False) -> None:
        try:
            runs = await self.backend.evaluation.eval_runs(limit=200)
            questions = await self.backend.evaluation.eval_questions()
        except AssistantError as err:
            self.notify(str(err), title=err.title, severity="error")
            return
        self.runs = runs
        self.query_one("#trend", Sparkline).data = trend(runs)
        table = self.query_one("#runs", DataTable)
        table.clear()
        last: dict[str, EvalRun] = {}
        rows = []
        for run in runs:
            rows.append(run_row(run, last.get(run.kind)))
            last[run.kind] = run
        table.add_rows(reversed(rows))
        if not self.running and not keep_status:
            self._status(
                f"{len(runs)} runs; {len(questions)} generated questions. "
                + (
                    "r measures retrieval on them now."
                    if questions
                    else "Make questions first: assistant eval generate --folder PATH"
                )
            )
        table.focus()

    def _status(self, text: str) -> None:
        self.query_one("#eval-status", Label).update(text)

    def action_cancel_run(self) -> None:
        if self.running:
            self.cancel.set()
            self._status("Cancelling…")
        else:
            self.notify("No evaluation is running", severity="information", timeout=2)

    def action_run_own(self) -> None:
        if self.running:
            self.notify("An evaluation is already running", severity="warning")
            return
        self.cancel = threading.Event()
        self.running = True
        self.measure()

    @work(exclusive=True, group="eval-run", exit_on_error=False)
    async def measure(self) -> None:
        bar = self.query_one("#eval-progress", ProgressBar)
        bar.update(total=None, progress=0)
        bar.display = True
        self._status("Measuring retrieval on the generated questions…")

        def show(p: EvalProgress) -> None:
            bar.update(total=p.total, progress=p.done)
            self._status(f"Measuring {p.stage}: {p.done}/{p.total}")

        try:
            result = await self.backend.evaluation.eval_own(
                modes=SCREEN_MODES, label="tui", progress=show, cancel=self.cancel
            )
        except EvalCancelled:
            self._status("Cancelled; nothing was saved.")
        except (AssistantError, ValueError) as err:
            self._status(str(err))
            self.notify(str(err), severity="warning")
        else:
            default = result["modes"].get("default", {})
            self._status(
                f"Run {result['run_id']}: {result['n']} questions, Recall@5 "
                f"{_num(default.get(TREND_METRIC))} (default mode)"
            )
        finally:
            self.running = False
            bar.display = False
        self.load(keep_status=True)
