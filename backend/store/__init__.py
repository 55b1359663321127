"""The SQLite store: one file per profile, WAL, schema changed only by migrations."""

from backend.store.db import Database, connect

__all__ = ["Database", "connect"]
