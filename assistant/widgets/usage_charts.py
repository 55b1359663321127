"""Charts of the request log (``UsageStats``), drawn with textual-plotext.

Each chart is a ``PlotextPlot`` that draws one aspect of the stats it was
last given (``show``); the screen fetches the stats, the charts only draw.
They redraw from their data on every ``show``, and plotext lays the figure
out at render time, so a resize needs nothing from us.

Days are the UTC days the request log groups by; only the latest
``MAX_DAYS`` days that have replies are drawn, so the x axis stays legible.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual_plotext import PlotextPlot

from backend.api import UsageStats

MAX_DAYS = 14


class UsageChart(PlotextPlot):
    """One chart; subclasses draw in ``draw``."""

    ID = ""
    TITLE = ""

    def __init__(self) -> None:
        super().__init__(id=self.ID or None, classes="usage-chart")
        self.stats: UsageStats | None = None

    @property
    def has_data(self) -> bool:
        """Whether the last ``show`` had anything for this chart."""
        return False

    def show(self, stats: UsageStats) -> None:
        self.stats = stats
        plt = self.plt
        plt.clear_figure()
        plt.title(self.TITLE)
        if self.has_data:
            self.draw(stats)
        else:
            plt.xticks([], [])
            plt.yticks([], [])
            plt.title(f"{self.TITLE} (no data)")  # short: plotext drops a title wider than the plot
        self.refresh()

    def draw(self, stats: UsageStats) -> None:
        raise NotImplementedError

    def days(self) -> list[str]:
        days = sorted({t.day for t in self.stats.tokens}) if self.stats else []
        return days[-MAX_DAYS:]

    def day_ticks(self, days: Sequence[str]) -> None:
        self.plt.xticks(list(range(len(days))), [d[5:] for d in days])  # MM-DD


class TokensChart(UsageChart):
    """Prompt + completion tokens per day, stacked by model."""

    ID = "chart-tokens"
    TITLE = "Tokens per day"

    @property
    def has_data(self) -> bool:
        return bool(self.stats and self.stats.tokens)

    def draw(self, stats: UsageStats) -> None:
        days = self.days()
        models = sorted({t.model for t in stats.tokens})
        totals = {(t.day, t.model): t.prompt_tokens + t.completion_tokens for t in stats.tokens}
        series = [[totals.get((d, m), 0) for d in days] for m in models]
        # the stub names it `label`; plotext 5.3 takes `labels`
        self.plt.stacked_bar([d[5:] for d in days], series, labels=models)  # type: ignore[call-arg]


class TtftChart(UsageChart):
    """Time to first token per model over days: p50 and p95 lines."""

    ID = "chart-ttft"
    TITLE = "TTFT ms p50/p95"

    @property
    def has_data(self) -> bool:
        return bool(self.stats and any(s.ttft_p50_ms is not None for s in self.stats.speed))

    def draw(self, stats: UsageStats) -> None:
        days = self.days()
        x = {d: i for i, d in enumerate(days)}
        for model in sorted({s.model for s in stats.speed}):
            rows = [s for s in stats.speed if s.model == model and s.day in x]
            p50 = [(x[s.day], s.ttft_p50_ms) for s in rows if s.ttft_p50_ms is not None]
            p95 = [(x[s.day], s.ttft_p95_ms) for s in rows if s.ttft_p95_ms is not None]
            if p50:
                self.plt.plot(*zip(*p50, strict=True), label=f"{model} p50", marker="braille")
            if p95:
                self.plt.plot(*zip(*p95, strict=True), label=f"{model} p95", marker="dot")
        self.day_ticks(days)


class DecodeChart(UsageChart):
    """Mean decode speed per model over days."""

    ID = "chart-decode"
    TITLE = "Decode tok/s"

    @property
    def has_data(self) -> bool:
        return bool(self.stats and any(s.decode_tok_s for s in self.stats.speed))

    def draw(self, stats: UsageStats) -> None:
        days = self.days()
        x = {d: i for i, d in enumerate(days)}
        for model in sorted({s.model for s in stats.speed}):
            points = [
                (x[s.day], s.decode_tok_s)
                for s in stats.speed
                if s.model == model and s.day in x and s.decode_tok_s
            ]
            if points:
                self.plt.plot(*zip(*points, strict=True), label=model, marker="braille")
        self.day_ticks(days)


class StagesChart(UsageChart):
    """Where a grounded answer's time goes: mean ms per stage."""

    ID = "chart-stages"
    TITLE = "ms per stage, grounded"

    @property
    def has_data(self) -> bool:
        return bool(self.stats and self.stats.stages)

    def draw(self, stats: UsageStats) -> None:
        self.plt.title(f"{self.TITLE} ({stats.grounded_answers} answers)")  # fits ~40 columns
        self.plt.bar(
            [s.stage for s in stats.stages],
            [round(s.mean_ms, 1) for s in stats.stages],
            orientation="horizontal",
        )


class ThumbsChart(UsageChart):
    """Share of thumbs up per system prompt version (or preset, for older replies)."""

    ID = "chart-thumbs"
    TITLE = "Thumbs up % per prompt"

    @property
    def has_data(self) -> bool:
        return bool(self.stats and any(t.ratio is not None for t in self.stats.thumbs))

    def draw(self, stats: UsageStats) -> None:
        voted = [t for t in stats.thumbs if t.ratio is not None]
        self.plt.bar(
            [f"{t.prompt} ({t.up + t.down})" for t in voted],
            [round(100 * (t.ratio or 0.0)) for t in voted],
        )
        self.plt.ylim(0, 100)


CHARTS: tuple[type[UsageChart], ...] = (
    TokensChart,
    TtftChart,
    DecodeChart,
    StagesChart,
    ThumbsChart,
)
"""The request-log screen's charts, in reading order."""
