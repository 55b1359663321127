"""The tool calls made while writing each reply, so the transcript shows
them after a restart (``Backend.message_tool_calls``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from backend.common.events import ToolCallFinished
from backend.store.db import Database

INSERT_CALL = (
    "INSERT INTO message_tool_calls(message_id, step, call_id, name, arguments,"
    " output, error, ms, side_effects, approved, provenance) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)


def call_row(message_id: int, c: ToolCallFinished) -> tuple[Any, ...]:
    """The ``INSERT_CALL`` parameters of one call of a reply."""
    return (
        message_id,
        c.step,
        c.call_id,
        c.name,
        json.dumps(c.arguments, ensure_ascii=False),
        c.output,
        c.error,
        c.ms,
        int(c.side_effects),
        None if c.approved is None else int(c.approved),
        json.dumps(list(c.provenance)),
    )


class ToolCallStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, message_id: int, calls: Iterable[ToolCallFinished]) -> None:
        """Record (or replace) the calls of one reply."""
        rows = [call_row(message_id, c) for c in calls]
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM message_tool_calls WHERE message_id = ?", (message_id,))
            cur.executemany(INSERT_CALL, rows)

    def for_message(self, message_id: int) -> list[ToolCallFinished]:
        rows = self.db.query(
            "SELECT * FROM message_tool_calls WHERE message_id = ? ORDER BY step", (message_id,)
        )
        return [call_from_row(r) for r in rows]


def call_from_row(row: Any) -> ToolCallFinished:
    return ToolCallFinished(
        call_id=row["call_id"],
        step=int(row["step"]),
        name=row["name"],
        arguments=json.loads(row["arguments"]),
        output=row["output"],
        error=row["error"],
        ms=float(row["ms"]),
        side_effects=bool(row["side_effects"]),
        approved=None if row["approved"] is None else bool(row["approved"]),
        provenance=tuple(json.loads(row["provenance"])),
    )
