"""The sources under a reply that answered from the user's documents.

``SourcesPanel`` lives inside a ``MessageWidget`` (between the body and the
footer) and goes through three states as a reply streams:

* ``searching()`` — "Searching your documents…" (retrieval runs before the
  first token);
* ``retrieved(event)`` — "Found n passages" (and the rewritten query);
* ``show(...)`` — once citations are known (live from ``CitationsParsed``,
  or from ``Backend.message_sources`` for replies loaded from history): a
  "Sources" line of the *cited* passages, the ones the model cited that it
  was never given (``[S9]`` with 4 sources) marked as unknown, and a collapsed
  "n more retrieved, not cited" part.

Decisions:

* Each line of sources is one focusable ``SourceLine`` (tab reaches it, ←/→
  pick a source, Enter opens it, a click opens the one clicked) rather than a
  widget per source: the line wraps like text and stays compact.
* Sources are listed by S-number, both live and from history, so a reply
  looks the same after a restart.
* A source with injection flags gets a "⚠" marker; the reasons are in the
  line's tooltip and in the source viewer.
* For replies from history the unknown numbers are re-read from the reply's
  text (``citation_numbers``): the store keeps the sources, not the parse.
* Widgets never call the backend: opening a source posts ``SourceOpened``
  and the screen does the rest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Collapsible, Static

from backend.common.events import SourceRef, SourcesRetrieved

_BRACKET = re.compile(r"\[([^\[\]]{1,80})\]")
_S_NUMBER = re.compile(r"\bS(\d{1,3})\b")


def citation_numbers(text: str) -> list[int]:
    """S-numbers cited in ``text`` (``[S1]``, ``[S1, S3]``), first mention first."""
    seen: list[int] = []
    for bracket in _BRACKET.finditer(text):
        for number in _S_NUMBER.findall(bracket.group(1)):
            if int(number) not in seen:
                seen.append(int(number))
    return seen


def source_label(source: SourceRef) -> str:
    """``[S1] file.html › Heading (p. 3)``, or for a past chat
    ``[S1] conversation “Trip planning”, 2025-05-02``."""
    if source.kind == "conversation":
        return f"[S{source.n}] conversation “{source.path}”, {source.date}"
    label = f"[S{source.n}] {PurePath(source.path).name}"
    if source.heading:
        label += f" › {source.heading}"
    if source.page is not None:
        label += f" (p. {source.page})"
    return label


@dataclass
class SourceOpened(Message):
    """The user chose source ``n`` of reply ``message_id``."""

    message_id: int
    n: int
    source: SourceRef


class SourceLine(Static, can_focus=True):
    """Sources on one wrapping line: ←/→ pick one, Enter (or a click) opens it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        ("left", "move(-1)", "Previous source"),
        ("right", "move(1)", "Next source"),
        ("enter", "open_current", "Open source"),
    ]

    cursor: reactive[int] = reactive(0)

    def __init__(
        self,
        message_id: int,
        sources: Sequence[SourceRef],
        unknown: Sequence[int] = (),
        *,
        heading: str = "",
        classes: str = "",
    ) -> None:
        super().__init__(classes=f"source-line {classes}".strip())
        self.message_id = message_id
        self.sources = list(sources)
        self.unknown = list(unknown)
        self.heading = heading
        flagged = [s for s in self.sources if s.flags]
        if flagged:
            self.tooltip = "\n".join(
                f"⚠ S{s.n}: {', '.join(s.flags)} — treat its instructions as text" for s in flagged
            )

    def render(self) -> Content:
        parts: list[Content] = []
        if self.heading:
            parts.append(Content.styled(self.heading, "bold"))
        for i, source in enumerate(self.sources):
            chip = Content.from_markup(f"[@click=open({i})]$label[/]", label=source_label(source))
            if self.has_focus and i == self.cursor:
                chip = chip.stylize("reverse")
            if source.flags:
                chip = chip + Content.styled(" ⚠ " + ", ".join(source.flags), "$warning")
            parts.append(chip)
        for n in self.unknown:
            parts.append(Content.styled(f"[S{n}] not among the sources given", "$error"))
        return Content("  ").join(parts)

    def on_focus(self, event: events.Focus) -> None:
        self.refresh()

    def on_blur(self, event: events.Blur) -> None:
        self.refresh()

    def watch_cursor(self) -> None:
        self.refresh()

    def action_move(self, step: int) -> None:
        if self.sources:
            self.cursor = (self.cursor + step) % len(self.sources)

    def action_open_current(self) -> None:
        self.action_open(self.cursor)

    def action_open(self, index: int) -> None:
        if 0 <= index < len(self.sources):
            self.cursor = index
            self.post_message(
                SourceOpened(self.message_id, self.sources[index].n, self.sources[index])
            )


class SourcesPanel(Vertical):
    """Retrieval progress, then the reply's sources (empty: not shown)."""

    def __init__(self) -> None:
        super().__init__(classes="sources")
        self.loaded = False
        """The final sources are shown (or known to be none): no need to fetch them."""
        self.display = False

    def compose(self) -> ComposeResult:
        yield Static("", classes="sources-status", markup=False)

    def _status(self, text: str) -> None:
        status = self.query_one(".sources-status", Static)
        status.update(text)
        status.display = bool(text)
        self.display = True

    @property
    def status_text(self) -> str:
        return str(self.query_one(".sources-status", Static).render())

    async def searching(self) -> None:
        await self._clear_lines()
        self._status("Searching your documents…")

    async def retrieved(self, event: SourcesRetrieved) -> None:
        n = len(event.sources)
        text = (
            f"Found {n} passage{'s' if n != 1 else ''}"
            if n
            else "No matching passages in your documents"
        )
        if event.rewritten:
            text += f" · query rewritten: {event.rewritten}"
        await self._clear_lines()
        self._status(text)
        self.loaded = not n  # nothing to cite: this note is the final state

    async def cancel_search(self) -> None:
        """No retrieval happened after all (the first token came first)."""
        if not self.loaded:
            await self.show(0, [], [])

    async def show(
        self, message_id: int, sources: Sequence[SourceRef], unknown: Sequence[int]
    ) -> None:
        self.loaded = True
        await self._clear_lines()
        if not sources and not unknown:
            self._status("")
            self.display = False
            return
        cited = sorted((s for s in sources if s.cited), key=lambda s: s.n)
        matched = sorted((s for s in sources if s.matched and not s.cited), key=lambda s: s.n)
        others = sorted((s for s in sources if not s.cited and not s.matched), key=lambda s: s.n)
        self._status("" if cited or unknown or matched else "Sources: none cited")
        if cited or unknown:
            await self.mount(
                SourceLine(message_id, cited, unknown, heading="Sources", classes="-cited")
            )
        elif matched:
            # The model cited nothing but restated these (backend.rag.attribution).
            await self.mount(
                SourceLine(
                    message_id,
                    matched,
                    (),
                    heading="Matched (not cited by the model)",
                    classes="-cited -matched",
                )
            )
        if others:
            n = len(others)
            label = f"{n} {'more ' if cited or matched else ''}retrieved, not cited"
            await self.mount(
                Collapsible(
                    SourceLine(message_id, others, classes="-uncited"),
                    title=label,
                    collapsed=True,
                    classes="uncited",
                )
            )

    async def _clear_lines(self) -> None:
        await self.query_children(".source-line, .uncited").remove()

    def lines(self) -> list[SourceLine]:
        return list(self.query(SourceLine))

    def focus_first(self) -> bool:
        """Focus the cited line (else the collapsed part's title); False if none."""
        cited = self.query(".-cited")
        if cited:
            cited.first().focus()
            return True
        uncited = self.query(Collapsible)
        if uncited:
            uncited.first().query_one("CollapsibleTitle").focus()
            return True
        return False
