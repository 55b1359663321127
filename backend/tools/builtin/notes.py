"""``save_note``: the one built-in tool that changes something on disk, so
it is marked ``side_effects=True`` and never runs without the user's
approval. It only ever creates new files in the notes folder: a note never
overwrites another (``-2``, ``-3``... are added), and the file name is made
from the title, so no title can name a path elsewhere.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from pathlib import Path

from backend.tools.base import Tool, ToolExample, ToolOutput
from backend.tools.builtin.context import ToolContext
from backend.tools.errors import ToolError
from backend.tools.function_tools import tool_from_function

MAX_TITLE_CHARS = 200
MAX_NOTE_CHARS = 100_000
MAX_SLUG_CHARS = 60
_NOT_SLUG = re.compile(r"[^\w]+")
_WINDOWS_RESERVED = frozenset(
    {
        "con",
        "prn",
        "aux",
        "nul",
        *(f"com{i}" for i in range(1, 10)),
        *(f"lpt{i}" for i in range(1, 10)),
    }
)


def slug(title: str) -> str:
    """A file name stem from ``title``: letters, digits, ``-``; never empty,
    never a path, never a name Windows reserves."""
    text = unicodedata.normalize("NFKC", title).casefold()
    stem = _NOT_SLUG.sub("-", text).strip("-_")[:MAX_SLUG_CHARS].strip("-_")
    if not stem or stem in _WINDOWS_RESERVED:
        stem = f"note-{stem}" if stem else "note"
    return stem


def write_new_note(notes_dir: Path, title: str, text: str) -> Path:
    """Create ``<slug>.md`` (or ``<slug>-N.md``) in ``notes_dir``; never
    overwrites, even when two notes are saved at the same moment (the file
    is opened with exclusive creation)."""
    notes_dir.mkdir(parents=True, exist_ok=True)
    stem = slug(title)
    heading = " ".join(title.split())
    content = f"# {heading}\n\n{text.strip()}\n"
    for n in range(1, 1000):
        path = notes_dir / (f"{stem}.md" if n == 1 else f"{stem}-{n}.md")
        try:
            with open(path, "x", encoding="utf-8") as handle:
                handle.write(content)
        except FileExistsError:
            continue
        return path
    raise ToolError(f"too many notes called {stem!r}; choose another title")


def make_save_note(context: ToolContext) -> Tool:
    def save_note(title: str, text: str) -> ToolOutput:
        """Save a note for the user as a new Markdown file. Only when the user
        asks to save or remember something.

        Args:
            title: A short title for the note.
            text: The note itself (Markdown).
        """
        if not title.strip():
            raise ToolError("the title is empty")
        if len(title) > MAX_TITLE_CHARS:
            raise ToolError(f"the title is longer than {MAX_TITLE_CHARS} characters")
        if not text.strip():
            raise ToolError("the note is empty")
        if len(text) > MAX_NOTE_CHARS:
            raise ToolError(f"the note is longer than {MAX_NOTE_CHARS} characters")
        path = write_new_note(context.notes_dir, title, text)
        return ToolOutput(text=f"Saved the note as {path}", data={"path": str(path)})

    examples = (
        ToolExample(
            "remember that the car is due for a service in May",
            {"title": "Car service", "text": "The car is due for a service in May."},
        ),
    )
    tool = tool_from_function(save_note, side_effects=True, timeout_s=10.0, examples=examples)
    return replace(tool, span_arguments=frozenset({"text"}))
