"""The tool calls a reply made, shown above its text.

``ToolCallsPanel`` lives inside a ``MessageWidget`` (between the role label
and the body) and holds one ``ToolCallBlock`` per call, in the order the
calls were made. A block is a collapsed ``Collapsible`` whose title is the
call on one line::

    ⚙ calculator(expression="1234*5678") · 3 ms · done

and which expands to the arguments (pretty JSON) and the output (or error).

A live call goes through states as the reply streams: ``running`` (or
``waiting for approval`` when it has side effects), then ``done``,
``error`` or ``declined`` (``ToolCallFinished``). Calls of replies loaded
from history come from ``Backend.message_tool_calls`` (``show``).

Calls with side effects are marked "✎ side effect", calls the model
proposed after reading untrusted text (documents, a tool's output) carry
their provenance ("⚠ after reading: output of read_document"): a document
can try to steer which tool is called, and the user should see when that
may have happened.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import Collapsible, Static

from backend.common.events import ToolCallFinished, ToolCallProposed

State = Literal["waiting", "running", "done", "error", "declined"]
STATE_LABELS: dict[State, str] = {
    "waiting": "waiting for approval",
    "running": "running…",
    "done": "done",
    "error": "error",
    "declined": "declined",
}
SIGNATURE_CHARS = 70
"""Arguments longer than this are cut ("…") in the one-line title."""
OUTPUT_CHARS = 4000
"""Output longer than this is cut in the expanded block."""


def call_signature(name: str, arguments: dict[str, Any], limit: int = SIGNATURE_CHARS) -> str:
    """``calculator(expression="1234*5678")``, arguments cut at ``limit``."""
    args = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items())
    if len(args) > limit:
        args = args[: limit - 1] + "…"
    return f"{name}({args})"


def pretty_arguments(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, indent=2, ensure_ascii=False) if arguments else "(none)"


def source_label(source: str) -> str:
    return "built-in tool" if source in ("", "builtin") else f"MCP server “{source}”"


def finished_state(call: ToolCallFinished) -> State:
    if call.approved is False:
        return "declined"
    return "error" if call.error else "done"


class ToolCallBlock(Collapsible):
    """One call: a one-line title, expanding to arguments and output."""

    def __init__(
        self,
        call: ToolCallProposed | ToolCallFinished,
        state: State,
        *,
        source: str = "",
    ) -> None:
        self.call_id = call.call_id
        self.tool_name = call.name
        self.arguments = dict(call.arguments)
        self.side_effects = call.side_effects
        self.provenance = tuple(call.provenance)
        self.source = source
        self.state: State = state
        self.ms: float | None = None
        self.output = ""
        self.error: str | None = None
        if isinstance(call, ToolCallFinished):
            self._take(call)
        super().__init__(
            Static(self.details_text(), classes="tool-details", markup=False),
            title=escape(self.title_text()),
            collapsed=True,
            classes=f"tool-call -{self.state}",
        )

    def _take(self, call: ToolCallFinished) -> None:
        self.state = finished_state(call)
        self.ms = call.ms
        self.output = call.output
        self.error = call.error

    # text ------------------------------------------------------------
    def title_text(self) -> str:
        parts = [f"⚙ {call_signature(self.tool_name, self.arguments)}"]
        if self.ms is not None and self.state in ("done", "error"):
            parts.append(f"{self.ms:.0f} ms")
        parts.append(STATE_LABELS[self.state])
        if self.side_effects:
            parts.append("✎ side effect")
        if self.provenance:
            parts.append("⚠ after reading: " + ", ".join(self.provenance))
        return " · ".join(parts)

    def details_text(self) -> str:
        lines: list[str] = []
        if self.source:
            lines.append(f"Source: {source_label(self.source)}")
        if self.side_effects:
            lines.append("✎ Side effects: this tool changes things; it runs only if you allow it.")
        if self.provenance:
            lines.append(
                "⚠ Proposed after the assistant read "
                + ", ".join(self.provenance)
                + ": that text may have suggested this call."
            )
        lines += ["", "Arguments", pretty_arguments(self.arguments), ""]
        if self.state == "declined":
            lines += ["Not run", self.error or "declined"]
        elif self.error is not None:
            lines += ["Error", self.error]
        elif self.state in ("waiting", "running"):
            lines += ["Output", STATE_LABELS[self.state]]
        else:
            output = self.output
            if len(output) > OUTPUT_CHARS:
                output = output[:OUTPUT_CHARS] + f"… ({len(self.output) - OUTPUT_CHARS} more)"
            lines += ["Output", output or "(empty)"]
        return "\n".join(lines).lstrip("\n")

    # state -----------------------------------------------------------
    def _refresh_text(self) -> None:
        for state in STATE_LABELS:
            self.set_class(state == self.state, f"-{state}")
        self.title = escape(self.title_text())
        if self.is_mounted:
            self.query_one(".tool-details", Static).update(self.details_text())

    def set_state(self, state: State) -> None:
        self.state = state
        self._refresh_text()

    def finish(self, call: ToolCallFinished) -> None:
        self._take(call)
        self._refresh_text()


class ToolCallsPanel(Vertical):
    """The calls of one reply (empty: not shown)."""

    def __init__(self) -> None:
        super().__init__(classes="tool-calls")
        self.loaded = False
        """The calls are shown (live, or from history): no need to fetch them."""
        self.display = False

    def blocks(self) -> list[ToolCallBlock]:
        return list(self.query_children(ToolCallBlock))

    def block(self, call_id: str) -> ToolCallBlock | None:
        for b in self.blocks():
            if b.call_id == call_id:
                return b
        return None

    async def proposed(self, event: ToolCallProposed) -> ToolCallBlock:
        """A live call was proposed: it waits for approval or runs now."""
        self.loaded = True
        block = ToolCallBlock(
            event, "waiting" if event.needs_approval else "running", source=event.source
        )
        await self.mount(block)
        self.display = True
        return block

    async def finished(self, event: ToolCallFinished) -> None:
        self.loaded = True
        block = self.block(event.call_id)
        if block is None:
            await self.mount(ToolCallBlock(event, finished_state(event)))
        else:
            block.finish(event)
        self.display = True

    async def show(self, calls: Sequence[ToolCallFinished]) -> None:
        """The stored calls of a reply from history, collapsed."""
        self.loaded = True
        await self.remove_children()
        if calls:
            await self.mount_all(ToolCallBlock(c, finished_state(c)) for c in calls)
        self.display = bool(calls)
