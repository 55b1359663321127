"""What the built-in tools may reach, handed to them instead of globals.

The tools never import the facade, Textual or a database: the backend builds
a ``ToolContext`` (``ToolContext.for_knowledge_base`` does it from the
knowledge base) and passes it to ``builtin_tools``. Tests pass their own
roots, search function and clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from backend.knowledge.records import DocumentHit

if TYPE_CHECKING:
    from backend.knowledge.service import KnowledgeBase

Search = Callable[[str, int], Sequence[DocumentHit]]
"""(query, k) -> passages, best first."""

DEFAULT_MAX_OUTPUT_CHARS = 6000
"""About 1,500 tokens: a tool result must leave room in a small model's
context for the question, the other results and the answer."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ToolContext:
    """Everything the built-in tools use."""

    roots: Callable[[], Sequence[Path]]
    """The watched folders, asked on every call (folders come and go while
    the app runs). File tools never leave them."""
    notes_dir: Path
    """Where ``save_note`` writes (created on first use)."""
    search: Search | None = None
    """The knowledge base's search; None: no ``search_documents`` tool."""
    now: Callable[[], datetime] = utc_now
    """The clock, timezone-aware."""
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    """Most characters one tool result may hold."""

    @classmethod
    def for_knowledge_base(
        cls,
        kb: KnowledgeBase,
        notes_dir: Path,
        *,
        now: Callable[[], datetime] = utc_now,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    ) -> ToolContext:
        """Roots and hybrid search from ``kb``."""

        def roots() -> list[Path]:
            return [Path(f.path) for f in kb.store.folders()]

        def search(query: str, k: int) -> list[DocumentHit]:
            return kb.search(query, k, "hybrid")

        return cls(roots, notes_dir, search, now, max_output_chars)
