"""Prompt versions: every prompt text the assistant sends, stored once.

A version is a text under a readable name (``chat.system``,
``preset:Coder``, ``rag.instructions``, ``tools.decision``,
``template:<model>``...) identified by the sha256 of the text: the same text
under the same name is one row however many requests use it, and editing a
prompt (in the code, a preset, a model's chat template) makes a new row.
``request_prompts`` links each request-log row to the versions it used, so
the figures of a version (requests, thumbs, TTFT, tokens) are one join away:

    sqlite3 assistant.db "select v.name, count(*) from request_prompts p
      join prompt_versions v on v.id = p.version_id group by v.id"

Evaluation runs record the built-in versions they ran with in their
``settings`` JSON (``{"prompts": {name: sha256}}``); ``listing`` reads them
back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from backend.store.conversations import now
from backend.store.db import Database
from backend.store.records import PromptRef, PromptVersion

PromptPart = tuple[str, str]
"""(name, text) of one prompt a request used."""


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class PromptVersions:
    def __init__(self, db: Database) -> None:
        self.db = db

    def register_in(self, c: Any, name: str, text: str) -> int:
        """The version id of ``text`` under ``name``, inserted if new
        (inside the caller's transaction ``c``)."""
        sha = text_sha256(text)
        c.execute(
            "INSERT OR IGNORE INTO prompt_versions(name, sha256, text, created_at)"
            " VALUES (?, ?, ?, ?)",
            (name, sha, text, now()),
        )
        row = c.execute(
            "SELECT id FROM prompt_versions WHERE name = ? AND sha256 = ?", (name, sha)
        ).fetchone()
        return int(row[0])

    def link_in(self, c: Any, request_id: int, parts: Sequence[PromptPart]) -> None:
        """Register ``parts`` and link them to ``request_id`` (in ``c``)."""
        for name, text in parts:
            version = self.register_in(c, name, text)
            c.execute(
                "INSERT OR IGNORE INTO request_prompts(request_id, version_id) VALUES (?, ?)",
                (request_id, version),
            )

    def register(self, parts: Iterable[PromptPart]) -> dict[str, str]:
        """Store ``parts`` (no request); returns ``{name: sha256}``."""
        out = {}
        with self.db.transaction() as c:
            for name, text in parts:
                self.register_in(c, name, text)
                out[name] = text_sha256(text)
        return out

    def for_request(self, request_id: int) -> list[PromptRef]:
        rows = self.db.query(
            "SELECT v.name, v.sha256 FROM request_prompts p"
            " JOIN prompt_versions v ON v.id = p.version_id"
            " WHERE p.request_id = ? ORDER BY v.name",
            (request_id,),
        )
        return [PromptRef(r["name"], r["sha256"]) for r in rows]

    def text(self, name: str, sha256: str) -> str | None:
        row = self.db.query_one(
            "SELECT text FROM prompt_versions WHERE name = ? AND sha256 = ?", (name, sha256)
        )
        return None if row is None else str(row["text"])

    def listing(self) -> list[PromptVersion]:
        """Every version, by name then first use, with the figures of the
        requests that used it and the evaluation runs made with it."""
        rows = self.db.query(
            "SELECT v.id, v.name, v.sha256, v.text, v.created_at,"
            " count(r.id) AS requests, avg(r.ttft_ms) AS ttft,"
            " avg(r.prompt_tokens) AS pt, avg(r.completion_tokens) AS ct,"
            " max(r.created_at) AS last_used"
            " FROM prompt_versions v"
            " LEFT JOIN request_prompts p ON p.version_id = v.id"
            " LEFT JOIN requests r ON r.id = p.request_id"
            " GROUP BY v.id ORDER BY v.name, v.id"
        )
        thumbs = {
            r["version_id"]: (r["up"], r["down"])
            for r in self.db.query(
                "SELECT version_id, sum(rating = 1) AS up, sum(rating = -1) AS down FROM ("
                " SELECT DISTINCT p.version_id, f.message_id, f.rating FROM request_prompts p"
                " JOIN requests r ON r.id = p.request_id"
                " JOIN feedback f ON f.message_id = r.message_id"
                ") GROUP BY version_id"
            )
        }
        runs = self._eval_runs()
        return [
            PromptVersion(
                name=r["name"],
                sha256=r["sha256"],
                text=r["text"],
                created_at=r["created_at"],
                requests=int(r["requests"]),
                thumbs_up=int(thumbs.get(r["id"], (0, 0))[0] or 0),
                thumbs_down=int(thumbs.get(r["id"], (0, 0))[1] or 0),
                ttft_avg_ms=r["ttft"],
                prompt_tokens_avg=r["pt"],
                completion_tokens_avg=r["ct"],
                last_used=r["last_used"],
                eval_runs=tuple(runs.get((r["name"], r["sha256"]), ())),
            )
            for r in rows
        ]

    def _eval_runs(self) -> dict[tuple[str, str], list[int]]:
        out: dict[tuple[str, str], list[int]] = {}
        for row in self.db.query("SELECT id, settings FROM eval_runs ORDER BY id"):
            try:
                prompts = json.loads(row["settings"]).get("prompts", {})
            except (ValueError, AttributeError):
                continue
            if isinstance(prompts, dict):
                for name, sha in prompts.items():
                    out.setdefault((name, str(sha)), []).append(int(row["id"]))
        return out
