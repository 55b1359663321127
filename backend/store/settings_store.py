"""Presets (named system prompts) and small pieces of remembered app state
(last conversation, theme) that belong in the database rather than in the
user's hand-edited config file."""

from __future__ import annotations

from backend.common.errors import NotFoundError
from backend.store.db import Database
from backend.store.records import Preset


class PresetStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def all(self) -> list[Preset]:
        rows = self.db.query("SELECT * FROM presets ORDER BY builtin DESC, name")
        return [Preset(r["name"], r["system_prompt"], bool(r["builtin"])) for r in rows]

    def get(self, name: str) -> Preset:
        r = self.db.query_one("SELECT * FROM presets WHERE name = ?", (name,))
        if r is None:
            raise NotFoundError(f"no preset named {name!r}")
        return Preset(r["name"], r["system_prompt"], bool(r["builtin"]))

    def save(self, name: str, system_prompt: str) -> Preset:
        name = name.strip()
        if not name:
            raise ValueError("a preset needs a name")
        with self.db.transaction() as c:
            c.execute(
                "INSERT INTO presets(name, system_prompt) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET system_prompt = excluded.system_prompt",
                (name, system_prompt),
            )
        return self.get(name)

    def delete(self, name: str) -> None:
        self.get(name)
        with self.db.transaction() as c:
            c.execute("DELETE FROM presets WHERE name = ?", (name,))


class StateStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str, default: str | None = None) -> str | None:
        r = self.db.query_one("SELECT value FROM app_state WHERE key = ?", (key,))
        return r["value"] if r else default

    def set(self, key: str, value: str | None) -> None:
        with self.db.transaction() as c:
            if value is None:
                c.execute("DELETE FROM app_state WHERE key = ?", (key,))
            else:
                c.execute(
                    "INSERT INTO app_state(key, value) VALUES (?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
