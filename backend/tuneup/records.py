"""What a tune-up reports and what its caller holds: the records and the
``TuneupJobHandle`` Protocol that the local ``TuneupJob`` and the remote
``RemoteTuneupJob`` implement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from backend.common.errors import AssistantError

FINAL = frozenset({"done", "error", "cancelled"})


class TuneupBusyError(AssistantError):
    """A tune-up is already running (one at a time)."""

    title = "Tune-up running"


@dataclass(frozen=True)
class TuneupUpdate:
    """One line of the job's report."""

    event: str
    """``dataset``, ``progress``, ``eval``, ``done``, ``error`` or ``cancelled``."""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.event in FINAL

    @property
    def fraction(self) -> float | None:
        """Progress as 0..1, for ``progress`` updates."""
        total = self.data.get("total")
        if self.event != "progress" or not total:
            return None
        return min(1.0, float(self.data.get("step", 0)) / float(total))


def describe(update: TuneupUpdate) -> str:
    """One line (two with a problem) for a report, as the CLI and the
    Tune-up screen show it."""
    d = update.data
    if update.event == "dataset":
        text = (
            f"Data ({d.get('method', 'sft')}): {d.get('train_sft', 0)} training and "
            f"{d.get('heldout_sft', 0)} held-out examples, {d.get('train_pairs', 0)} + "
            f"{d.get('heldout_pairs', 0)} preference pairs, from {d.get('conversations', 0)} chats"
        )
        if d.get("nice") or d.get("threads"):
            text += (f"; training at low priority (nice {d.get('nice', 0)}) on "
                     f"{d.get('threads', '?')} thread(s): replies come first")  # fmt: skip
        return text + (f"\n{d['problem']}" if d.get("problem") else "")
    if update.event == "progress":
        loss, eta = d.get("loss"), d.get("eta_s")
        text = f"Training: step {d.get('step')}/{d.get('total')}"
        if isinstance(loss, int | float):
            text += f" · loss {loss:.3f}"
        if isinstance(eta, int | float):
            text += f" · about {eta:.0f} s left"
        return text
    if update.event == "eval":
        verdict = d.get("verdict")
        summary = verdict.get("summary") if isinstance(verdict, dict) else None
        return f"Evaluated on held-out chats: {summary}" if summary else "Evaluating…"
    if update.event == "done" and d.get("dry_run"):
        return "Preview only: nothing was trained."
    if update.event == "done":
        verdict = d.get("verdict")
        summary = verdict.get("summary", "") if isinstance(verdict, dict) else ""
        return f"Done: {d.get('run_id') or d.get('run_dir')}" + (f". {summary}" if summary else "")
    if update.event == "error":
        return f"{d.get('title', 'Tune-up failed')}: {d.get('message', '')}"
    if update.event == "cancelled":
        return "Cancelled; nothing was kept."
    return update.event


class TuneupJobHandle(Protocol):
    """A tune-up running in its own process (locally or on the server)."""

    @property
    def running(self) -> bool:
        """Until its final report."""
        ...

    @property
    def last(self) -> TuneupUpdate | None:
        """The latest report seen, if any."""
        ...

    def cancel(self) -> None:
        """Ask the job to stop; it still reports ``cancelled``."""
        ...

    def updates(self) -> AsyncIterator[TuneupUpdate]:
        """Every report after those already seen, until the final one."""
        ...
