"""Telemetry in the UI: charts of the request log over time, and its rows.

The charts (``assistant.widgets.usage_charts``) show the whole log
(``TelemetryAPI.usage_stats`` with no start): tokens per day, TTFT p50/p95
and decode speed per model per day, where grounded answers spend their
time, and the thumbs-up share per prompt. ``assistant stats`` prints the
same numbers. Enter on a row opens it in full (``RequestDetailScreen``:
prompt versions, inputs, output, replay).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Grid, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label

from assistant.screens.request_detail import RequestDetailScreen
from assistant.widgets.usage_charts import CHARTS, UsageChart
from backend import AssistantAPI, AssistantError
from backend.api import RequestRecord


def _num(value: float | int | None, fmt: str = "{:.0f}") -> str:
    return "—" if value is None else fmt.format(value)


def detail_summary(r: RequestRecord) -> str:
    """A RAG stage's detail in a few words (the full JSON is in the DB)."""
    try:
        d: dict[str, Any] = json.loads(r.detail) if r.detail else {}
    except ValueError:
        return ""
    if r.stage == "retrieve":
        parts = [f"{d['hits']} hits" if "hits" in d else ""]
        if "sources" in d:
            parts.append(f"{d['sources']} sources, {d.get('cited', 0)} cited")
        return ", ".join(p for p in parts if p)
    if r.stage == "rewrite":
        helped = {True: "helped", False: "did not help", None: "no result"}[d.get("helped")]
        return f"weak → rewrote: {d.get('query') or '—'} ({helped})"
    if r.stage == "condense":
        return f"→ {d.get('query', '')}"
    if r.stage == "rerank":
        model = d.get("model")
        return str(d.get("reranker", "")) + (f" ({model})" if model else "")
    return ""


def request_row(r: RequestRecord) -> tuple[str, ...]:
    child = r.parent_request_id is not None
    return (
        r.created_at.replace("T", " ")[5:19],
        ("  └ " if child else "") + r.stage,
        r.model,
        _num(r.prompt_tokens),
        _num(r.completion_tokens),
        _num(r.cached_tokens),
        _num(r.ttft_ms),
        _num(r.prefill_tok_s, "{:.1f}"),
        _num(r.decode_tok_s, "{:.1f}"),
        _num(r.total_ms),
        r.stop_reason or "—",
        r.error or detail_summary(r),
    )


class RequestLogScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape,q", "app.pop_screen", "Back"),
        ("f5", "reload", "Reload"),
    ]

    def __init__(self, backend: AssistantAPI) -> None:
        super().__init__()
        self.backend = backend

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Vertical(id="request-log"):
            with Grid(id="charts"):
                for chart in CHARTS:
                    yield chart()
            yield Label(
                "Recent model calls and RAG stages (newest first; Enter shows one in full)",
                classes="section-title",
            )
            yield DataTable(id="requests", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Request log"
        self.sub_title = "every model call, newest first"
        self.query_one("#requests", DataTable).add_columns(
            "Time",
            "Stage",
            "Model",
            "Prompt",
            "Compl.",
            "Cached",
            "TTFT ms",
            "Prefill t/s",
            "Decode t/s",
            "Total ms",
            "Stop",
            "Error / detail",
        )
        self.action_reload()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(RequestDetailScreen(self.backend, int(event.row_key.value)))

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, group="request-log", exit_on_error=False)
    async def load(self) -> None:
        try:
            records = await self.backend.telemetry.request_log(200)
            stats = await self.backend.telemetry.usage_stats()
        except AssistantError as err:
            self.notify(str(err), title=err.title, severity="error")
            return
        requests = self.query_one("#requests", DataTable)
        requests.clear()
        for r in records:
            requests.add_row(*request_row(r), key=str(r.id))
        for chart in self.query(UsageChart):
            chart.show(stats)
        requests.focus()
