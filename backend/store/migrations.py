"""Named, recorded schema migrations.

Each migration is a named SQL script listed in ``ORDER`` (SQL in
``schema_chat``, ``schema_log``, ``schema_knowledge``);
applied names are recorded in ``_migrations`` so every database, blank or old,
ends at the same schema. Never edit a released migration: add a new one.

Scripts run through ``executescript`` wrapped in ``BEGIN ... COMMIT`` together
with the row that records them: ``executescript`` commits any open
transaction first, so the BEGIN must be inside the script for a migration and
its record to land atomically (a crash mid-migration leaves neither).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from backend.common.errors import StoreError
from backend.store.db import Database, DatabaseError
from backend.store.schema_chat import (
    m001_conversations_and_messages,
    m002_messages_fts,
    m003_feedback,
    m005_presets_and_state,
    m013_memories,
    m014_conversation_index,
)
from backend.store.schema_knowledge import (
    m006_knowledge_base,
    m007_chunk_flags,
    m011_duplicates,
)
from backend.store.schema_log import (
    m004_requests,
    m008_grounded_answers,
    m009_eval_runs,
    m010_tool_calls,
    m012_prompt_versions,
)

Migration = Callable[[], str]

ORDER: tuple[Migration, ...] = (
    m001_conversations_and_messages,
    m002_messages_fts,
    m003_feedback,
    m004_requests,
    m005_presets_and_state,
    m006_knowledge_base,
    m007_chunk_flags,
    m008_grounded_answers,
    m009_eval_runs,
    m010_tool_calls,
    m011_duplicates,
    m012_prompt_versions,
    m013_memories,
    m014_conversation_index,
)
"""Every migration, in the order it runs (the schema modules hold the SQL,
by domain)."""
MIGRATIONS: list[tuple[str, str]] = [(fn.__name__, fn()) for fn in ORDER]


def applied(db: Database) -> list[str]:
    rows = db.query("SELECT name FROM _migrations ORDER BY id")
    return [r["name"] for r in rows]


def migrate(db: Database) -> list[str]:
    """Apply every pending migration, each in its own transaction.

    Returns:
        The names applied by this call.
    Raises:
        StoreError: the database is not ours, is corrupt, or is newer than
            this code (it records a migration we do not know).
    """
    try:
        with db.transaction() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS _migrations ("
                "id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, applied_at TEXT NOT NULL)"
            )
        done = applied(db)
    except DatabaseError as err:
        raise StoreError(f"{db.path} is not a usable database: {err}") from None
    known = [name for name, _ in MIGRATIONS]
    unknown = [n for n in done if n not in known]
    if unknown:
        raise StoreError(
            f"{db.path} was written by a newer version (unknown migrations: {', '.join(unknown)})"
        )
    ran = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        stamp = datetime.now(UTC).isoformat()
        script = (
            f"BEGIN IMMEDIATE;\n{sql}\n;"
            f"INSERT INTO _migrations(name, applied_at) VALUES ('{name}', '{stamp}');\nCOMMIT;"
        )
        with db.locked() as conn:
            try:
                conn.executescript(script)
            except DatabaseError as err:
                if conn.in_transaction:
                    conn.rollback()
                raise StoreError(f"migration {name} failed: {err}") from None
        ran.append(name)
    return ran
