"""Conversations and their message trees.

Messages form a tree: editing a user message or regenerating a reply adds a
sibling under the same parent instead of overwriting, so every version stays
(and becomes tune-up signal). Which branch is "active" is remembered by
pointers: each message's ``selected_child_id``, and the conversation's
``selected_root_id`` for the first level. The active thread is the path that
follows those pointers from the selected root.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from backend.common.errors import NotFoundError
from backend.store.db import Database
from backend.store.records import Conversation, Message, SearchHit


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _conversation(row: Any) -> Conversation:
    return Conversation(
        id=row["id"],
        title=row["title"],
        model=row["model"],
        preset=row["preset"],
        system_prompt=row["system_prompt"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        use_documents=None if row["use_documents"] is None else bool(row["use_documents"]),
        folder_scope=None if row["folder_scope"] is None else json.loads(row["folder_scope"]),
        use_tools=None if row["use_tools"] is None else bool(row["use_tools"]),
        incognito=bool(row["incognito"]),
    )


class ConversationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # conversations -----------------------------------------------------
    def create(
        self, title: str, model: str | None, preset: str | None, system_prompt: str
    ) -> Conversation:
        stamp = now()
        with self.db.transaction() as c:
            cur = c.execute(
                "INSERT INTO conversations(title, model, preset, system_prompt, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (title, model, preset, system_prompt, stamp, stamp),
            )
            cid = int(cur.lastrowid)
        return self.get(cid)

    def get(self, conversation_id: int) -> Conversation:
        row = self.db.query_one("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if row is None:
            raise NotFoundError(f"no conversation {conversation_id}")
        return _conversation(row)

    def all(self, limit: int = 500) -> list[Conversation]:
        rows = self.db.query(
            "SELECT * FROM conversations ORDER BY updated_at DESC, id DESC LIMIT ?", (limit,)
        )
        return [_conversation(r) for r in rows]

    def update(self, conversation_id: int, **fields: Any) -> Conversation:
        allowed = {
            "title",
            "model",
            "preset",
            "system_prompt",
            "use_documents",
            "folder_scope",
            "use_tools",
            "incognito",
        }
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"cannot update {sorted(bad)}")
        self.get(conversation_id)
        if "incognito" in fields:
            fields["incognito"] = int(bool(fields["incognito"]))
        for flag in ("use_documents", "use_tools"):
            if flag in fields and fields[flag] is not None:
                fields[flag] = int(bool(fields[flag]))
        if "folder_scope" in fields and fields["folder_scope"] is not None:
            fields["folder_scope"] = json.dumps([int(i) for i in fields["folder_scope"]])
        if fields:
            sets = ", ".join(f"{k} = ?" for k in fields)
            with self.db.transaction() as c:
                c.execute(
                    f"UPDATE conversations SET {sets}, updated_at = ? WHERE id = ?",
                    (*fields.values(), now(), conversation_id),
                )
        return self.get(conversation_id)

    def delete(self, conversation_id: int) -> None:
        self.get(conversation_id)
        with self.db.transaction() as c:
            c.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def touch(self, c: Any, conversation_id: int) -> None:
        c.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now(), conversation_id))

    # messages ----------------------------------------------------------
    def add_message(
        self,
        conversation_id: int,
        parent_id: int | None,
        role: str,
        content: str,
        *,
        model: str | None = None,
        status: str = "complete",
    ) -> int:
        """Append a message under ``parent_id`` and make it the active branch."""
        self.get(conversation_id)
        with self.db.transaction() as c:
            if parent_id is not None:
                owner = c.execute(
                    "SELECT conversation_id FROM messages WHERE id = ?", (parent_id,)
                ).fetchone()
                if owner is None or owner[0] != conversation_id:
                    raise NotFoundError(f"no message {parent_id} in conversation {conversation_id}")
            cur = c.execute(
                "INSERT INTO messages(conversation_id, parent_id, role, content, model, status,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, parent_id, role, content, model, status, now()),
            )
            mid = int(cur.lastrowid)
            self._select(c, conversation_id, parent_id, mid)
            self.touch(c, conversation_id)
        return mid

    def finish_message(self, message_id: int, content: str, status: str) -> None:
        with self.db.transaction() as c:
            c.execute(
                "UPDATE messages SET content = ?, status = ? WHERE id = ?",
                (content, status, message_id),
            )

    def _select(self, c: Any, conversation_id: int, parent_id: int | None, child: int) -> None:
        if parent_id is None:
            c.execute(
                "UPDATE conversations SET selected_root_id = ? WHERE id = ?",
                (child, conversation_id),
            )
        else:
            c.execute("UPDATE messages SET selected_child_id = ? WHERE id = ?", (child, parent_id))

    def message(self, message_id: int) -> Message:
        row = self.db.query_one("SELECT * FROM messages WHERE id = ?", (message_id,))
        if row is None:
            raise NotFoundError(f"no message {message_id}")
        return self._decorate([row])[0]

    def siblings(self, message_id: int) -> list[int]:
        msg = self.message(message_id)
        rows = self.db.query(
            "SELECT id FROM messages WHERE conversation_id = ? AND parent_id IS ? ORDER BY id",
            (msg.conversation_id, msg.parent_id),
        )
        return [r["id"] for r in rows]

    def select_sibling(self, message_id: int, step: int) -> int:
        """Make the sibling ``step`` places away active; returns its id."""
        ids = self.siblings(message_id)
        msg = self.message(message_id)
        target = ids[(ids.index(message_id) + step) % len(ids)]
        with self.db.transaction() as c:
            self._select(c, msg.conversation_id, msg.parent_id, target)
        return target

    def thread(self, conversation_id: int) -> list[Message]:
        """The active branch, root first."""
        conv_row = self.db.query_one(
            "SELECT selected_root_id FROM conversations WHERE id = ?", (conversation_id,)
        )
        if conv_row is None:
            raise NotFoundError(f"no conversation {conversation_id}")
        rows = self.db.query(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
        )
        by_id = {r["id"]: r for r in rows}
        children: dict[int | None, list[int]] = {}
        for r in rows:
            children.setdefault(r["parent_id"], []).append(r["id"])
        path = []
        current = conv_row["selected_root_id"]
        if current not in by_id and children.get(None):
            current = children[None][-1]
        while current is not None and current in by_id:
            row = by_id[current]
            path.append(row)
            nxt = row["selected_child_id"]
            kids = children.get(current, [])
            if nxt not in kids:
                nxt = kids[-1] if kids else None
            current = nxt
        return self._decorate(path, children)

    def _decorate(
        self, rows: list[Any], children: dict[int | None, list[int]] | None = None
    ) -> list[Message]:
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        marks = ",".join("?" * len(ids))
        fb = {
            r["message_id"]: r
            for r in self.db.query(
                f"SELECT * FROM feedback WHERE message_id IN ({marks})", tuple(ids)
            )
        }
        reqs = {
            r["message_id"]: r["id"]
            for r in self.db.query(
                f"SELECT message_id, MAX(id) AS id FROM requests WHERE message_id IN ({marks})"
                " AND stage = 'generate' GROUP BY message_id",
                tuple(ids),
            )
        }
        out = []
        for r in rows:
            if children is not None:
                sibs = children.get(r["parent_id"], [r["id"]])
            else:
                sibs = [
                    s["id"]
                    for s in self.db.query(
                        "SELECT id FROM messages WHERE conversation_id = ? AND parent_id IS ?"
                        " ORDER BY id",
                        (r["conversation_id"], r["parent_id"]),
                    )
                ]
            f = fb.get(r["id"])
            out.append(
                Message(
                    id=r["id"],
                    conversation_id=r["conversation_id"],
                    parent_id=r["parent_id"],
                    role=r["role"],
                    content=r["content"],
                    model=r["model"],
                    status=r["status"],
                    created_at=r["created_at"],
                    sibling_index=sibs.index(r["id"]) + 1,
                    sibling_count=len(sibs),
                    rating=f["rating"] if f else 0,
                    edited_content=f["edited_content"] if f else None,
                    request_id=reqs.get(r["id"]),
                )
            )
        return out

    # feedback ----------------------------------------------------------
    def set_feedback(
        self, message_id: int, *, rating: int | None = None, edited_content: str | None = None
    ) -> Message:
        """Record a thumb (-1/0/1) and/or the user's preferred text of a reply."""
        msg = self.message(message_id)
        if msg.role != "assistant":
            raise ValueError("feedback applies to assistant replies only")
        if rating is not None and rating not in (-1, 0, 1):
            raise ValueError("rating must be -1, 0 or 1")
        with self.db.transaction() as c:
            c.execute(
                "INSERT INTO feedback(message_id, rating, edited_content, updated_at)"
                " VALUES (?, COALESCE(?, 0), ?, ?)"
                " ON CONFLICT(message_id) DO UPDATE SET"
                " rating = COALESCE(?, rating),"
                " edited_content = COALESCE(?, edited_content),"
                " updated_at = excluded.updated_at",
                (message_id, rating, edited_content, now(), rating, edited_content),
            )
        return self.message(message_id)

    # search ------------------------------------------------------------
    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Full-text search over every message of every conversation.

        The query is treated as plain words (each quoted, prefix-matched on
        the last), so user input can never be an FTS5 syntax error.
        """
        words = [w.replace('"', '""') for w in query.split() if w.strip()]
        if not words:
            return []
        fts = " ".join(f'"{w}"' for w in words[:-1])
        fts = (fts + " " if fts else "") + f'"{words[-1]}"*'
        rows = self.db.query(
            "SELECT m.id, m.conversation_id, m.role, c.title,"
            " snippet(messages_fts, 0, '[', ']', '…', 12) AS snip"
            " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
            " JOIN conversations c ON c.id = m.conversation_id"
            " WHERE messages_fts MATCH ? ORDER BY rank LIMIT ?",
            (fts, limit),
        )
        return [
            SearchHit(
                conversation_id=r["conversation_id"],
                conversation_title=r["title"],
                message_id=r["id"],
                role=r["role"],
                snippet=r["snip"],
            )
            for r in rows
        ]
