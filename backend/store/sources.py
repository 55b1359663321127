"""The sources each reply was given, numbered as the model saw them.

A copy of each passage is kept with the reply, so its citations still show
what the model read after the file changed, was re-indexed or was removed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from backend.common.events import SourceRef
from backend.store.db import Database

INSERT_SOURCE = (
    "INSERT INTO message_sources(message_id, n, chunk_id, path, heading, page,"
    ' start, "end", text, score, flags, cited, kind, conversation_id, source_message_id, date)'
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def source_row(message_id: int, s: SourceRef) -> tuple[Any, ...]:
    """The ``INSERT_SOURCE`` parameters of one source of a reply."""
    return (
        message_id,
        s.n,
        s.chunk_id,
        s.path,
        s.heading,
        s.page,
        s.start,
        s.end,
        s.text,
        s.score,
        json.dumps(list(s.flags)),
        # 0 retrieved, 1 cited by the model, 2 matched to an answer
        # that cited nothing (backend.rag.attribution): no new column.
        1 if s.cited else 2 if s.matched else 0,
        s.kind,
        s.conversation_id,
        s.conversation_message_id,
        s.date or None,
    )


class SourceStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, message_id: int, sources: Iterable[SourceRef]) -> None:
        """Record (or replace) the sources of one reply."""
        rows = [source_row(message_id, s) for s in sources]
        with self.db.transaction() as c:
            c.execute("DELETE FROM message_sources WHERE message_id = ?", (message_id,))
            c.executemany(INSERT_SOURCE, rows)

    def for_message(self, message_id: int) -> list[SourceRef]:
        rows = self.db.query(
            "SELECT * FROM message_sources WHERE message_id = ? ORDER BY n", (message_id,)
        )
        return [source_from_row(r) for r in rows]

    def get(self, message_id: int, n: int) -> SourceRef | None:
        row = self.db.query_one(
            "SELECT * FROM message_sources WHERE message_id = ? AND n = ?", (message_id, n)
        )
        return source_from_row(row) if row else None


def source_from_row(row: Any) -> SourceRef:
    return SourceRef(
        n=row["n"],
        chunk_id=row["chunk_id"],
        path=row["path"],
        heading=row["heading"],
        page=row["page"],
        start=row["start"],
        end=row["end"],
        text=row["text"],
        score=row["score"],
        flags=tuple(json.loads(row["flags"])),
        cited=row["cited"] == 1,
        matched=row["cited"] == 2,
        kind=row["kind"],
        conversation_id=row["conversation_id"],
        conversation_message_id=row["source_message_id"],
        date=row["date"] or "",
    )
