"""Opening the SQLite file.

We use ``pysqlite3`` (a DB-API clone of ``sqlite3`` bundling a recent SQLite
with FTS5 and extension loading) because this Python's stdlib ``sqlite3``
cannot load extensions, and the knowledge base needs sqlite-vec. Where
pysqlite3 is not installed we fall back to the stdlib module.

All access goes through one connection owned by ``Database``; the facade calls
it from a single dedicated thread, so SQLite never sees two writers from this
process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:  # pragma: no cover - which branch runs depends on the platform
    import pysqlite3.dbapi2 as sqlite3
except ImportError:  # pragma: no cover
    import sqlite3

from backend.common.errors import StoreError

Row = sqlite3.Row
IntegrityError = sqlite3.IntegrityError
OperationalError = sqlite3.OperationalError
DatabaseError = sqlite3.DatabaseError


def _load_sqlite_vec(conn: Any) -> None:
    """Load the sqlite-vec extension (vector tables for the knowledge base)."""
    try:
        import sqlite_vec

        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
    except (ImportError, AttributeError, sqlite3.OperationalError) as err:
        raise StoreError(f"cannot load the sqlite-vec extension: {err}") from None


def connect(path: Path | str) -> Any:
    """Open ``path`` with WAL, foreign keys, a busy timeout and sqlite-vec."""
    try:
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
        conn.row_factory = sqlite3.Row
        _load_sqlite_vec(conn)
        conn.execute("PRAGMA foreign_keys = ON")
        if str(path) != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA busy_timeout = 10000")
    except sqlite3.DatabaseError as err:
        raise StoreError(f"cannot open {path}: {err}") from None
    return conn


class Database:
    """One connection plus a lock; ``transaction()`` commits or rolls back."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self.conn = connect(path)
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                yield self.conn
            except BaseException:
                self.conn.rollback()
                raise
            else:
                self.conn.commit()

    @contextmanager
    def locked(self) -> Iterator[Any]:
        """The raw connection, held exclusively (for scripts that manage
        their own transaction)."""
        with self._lock:
            yield self.conn

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Any]:
        with self._lock:
            return list(self.conn.execute(sql, params).fetchall())

    def query_one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Any:
        with self._lock:
            return self.conn.execute(sql, params).fetchone()

    def close(self) -> None:
        with self._lock:
            self.conn.close()
