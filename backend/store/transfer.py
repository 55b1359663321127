"""Whole conversations out of and into the database as plain data: the
portable tree that ``backend.transfer`` writes as JSON or Markdown and
reads back (its schema: ``backend.transfer.document``).

A tree names no row of this database: messages are numbered 1.. in the
order they were written (a parent always before its children), the
active branch is kept as the same pointers the store keeps
(``selected_root``, each message's ``selected_child``), folder scopes are
folder paths, and a source's chunk id (a row of this database's index) is
left out. Token use is each message's total over its request-log rows;
``load`` writes it back as one row per message with stage ``import``
(``stats`` counts ``generate`` rows only, so imported history never skews
speeds). ``load`` writes every tree in one transaction: a failure leaves
the database as it was.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from backend.common.errors import NotFoundError
from backend.common.events import SourceRef, ToolCallFinished
from backend.store.conversations import now
from backend.store.db import Database
from backend.store.sources import INSERT_SOURCE, source_from_row, source_row
from backend.store.tool_calls import INSERT_CALL, call_from_row, call_row

Tree = dict[str, Any]


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


class TransferStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ids(self) -> list[int]:
        """Every conversation, oldest first."""
        return [r["id"] for r in self.db.query("SELECT id FROM conversations ORDER BY id")]

    # out ---------------------------------------------------------------------
    def dump(self, conversation_id: int) -> Tree:
        """One conversation with every branch, feedback, sources, tool
        calls and token use.

        Raises:
            NotFoundError: no such conversation.
        """
        conv = self.db.query_one("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if conv is None:
            raise NotFoundError(f"no conversation {conversation_id}")
        rows = self.db.query(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
        )
        local = {r["id"]: n for n, r in enumerate(rows, start=1)}
        mine = "SELECT id FROM messages WHERE conversation_id = ?"
        feedback = {
            r["message_id"]: {
                "rating": r["rating"],
                "edited_content": r["edited_content"],
                "updated_at": r["updated_at"],
            }
            for r in self.db.query(
                f"SELECT * FROM feedback WHERE message_id IN ({mine})", (conversation_id,)
            )
        }
        usage = {
            r["message_id"]: {"prompt_tokens": r["p"], "completion_tokens": r["c"]}
            for r in self.db.query(
                "SELECT message_id, SUM(COALESCE(prompt_tokens, 0)) AS p,"
                " SUM(COALESCE(completion_tokens, 0)) AS c FROM requests"
                f" WHERE message_id IN ({mine})"
                " AND (prompt_tokens IS NOT NULL OR completion_tokens IS NOT NULL)"
                " GROUP BY message_id",
                (conversation_id,),
            )
        }
        sources: dict[int, list[dict[str, Any]]] = {}
        for r in self.db.query(
            f"SELECT * FROM message_sources WHERE message_id IN ({mine}) ORDER BY message_id, n",
            (conversation_id,),
        ):
            source = asdict(source_from_row(r))
            del source["chunk_id"]
            sources.setdefault(r["message_id"], []).append(source)
        calls: dict[int, list[dict[str, Any]]] = {}
        for r in self.db.query(
            f"SELECT * FROM message_tool_calls WHERE message_id IN ({mine})"
            " ORDER BY message_id, step",
            (conversation_id,),
        ):
            calls.setdefault(r["message_id"], []).append(asdict(call_from_row(r)))
        folders = {r["id"]: r["path"] for r in self.db.query("SELECT id, path FROM folders")}
        scope = None if conv["folder_scope"] is None else json.loads(conv["folder_scope"])
        return {
            "title": conv["title"],
            "model": conv["model"],
            "preset": conv["preset"],
            "system_prompt": conv["system_prompt"],
            "created_at": conv["created_at"],
            "updated_at": conv["updated_at"],
            "use_documents": _flag(conv["use_documents"]),
            "use_tools": _flag(conv["use_tools"]),
            "folder_scope": None if scope is None else [folders[i] for i in scope if i in folders],
            "selected_root": local.get(conv["selected_root_id"]),
            "messages": [
                {
                    "id": local[r["id"]],
                    "parent": local.get(r["parent_id"]),
                    "role": r["role"],
                    "content": r["content"],
                    "model": r["model"],
                    "status": r["status"],
                    "created_at": r["created_at"],
                    "selected_child": local.get(r["selected_child_id"]),
                    "feedback": feedback.get(r["id"]),
                    "usage": usage.get(r["id"]),
                    "sources": sources.get(r["id"], []),
                    "tool_calls": calls.get(r["id"], []),
                }
                for r in rows
            ],
        }

    # in ----------------------------------------------------------------------
    def load(self, trees: Sequence[Tree]) -> list[int]:
        """Add every tree as a new conversation, all in one transaction;
        returns their ids. Each tree's messages must come parents first
        (``backend.transfer.document.check_tree`` orders them).

        Raises:
            ValueError: a message names a parent not written before it
                (nothing is written).
        """
        folders = {r["path"]: r["id"] for r in self.db.query("SELECT id, path FROM folders")}
        with self.db.transaction() as c:
            return [self._insert(c, tree, folders) for tree in trees]

    def _insert(self, c: Any, tree: Tree, folders: dict[str, int]) -> int:
        scope = tree.get("folder_scope")
        scope_ids = [folders[p] for p in scope if p in folders] if scope else None
        cur = c.execute(
            "INSERT INTO conversations(title, model, preset, system_prompt, created_at,"
            " updated_at, use_documents, folder_scope, use_tools)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                tree["title"],
                tree.get("model"),
                tree.get("preset"),
                tree.get("system_prompt", ""),
                tree["created_at"],
                tree["updated_at"],
                None if tree.get("use_documents") is None else int(tree["use_documents"]),
                json.dumps(scope_ids) if scope_ids else None,
                None if tree.get("use_tools") is None else int(tree["use_tools"]),
            ),
        )
        cid = int(cur.lastrowid)
        new: dict[int, int] = {}
        for m in tree["messages"]:
            parent = m.get("parent")
            if parent is not None and parent not in new:
                raise ValueError(f"message {m['id']} comes before its parent {parent}")
            mid = self._insert_message(c, cid, None if parent is None else new[parent], m)
            new[m["id"]] = mid
            if m.get("usage"):
                self._insert_usage(c, cid, mid, m, tree.get("model"))
        for m in tree["messages"]:
            if m.get("selected_child") is not None:
                c.execute(
                    "UPDATE messages SET selected_child_id = ? WHERE id = ?",
                    (new[m["selected_child"]], new[m["id"]]),
                )
        if tree.get("selected_root") is not None:
            c.execute(
                "UPDATE conversations SET selected_root_id = ? WHERE id = ?",
                (new[tree["selected_root"]], cid),
            )
        return cid

    @staticmethod
    def _insert_message(c: Any, cid: int, parent: int | None, m: dict[str, Any]) -> int:
        cur = c.execute(
            "INSERT INTO messages(conversation_id, parent_id, role, content, model, status,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (cid, parent, m["role"], m["content"], m.get("model"), m["status"], m["created_at"]),
        )
        mid = int(cur.lastrowid)
        fb = m.get("feedback")
        if fb is not None:
            c.execute(
                "INSERT INTO feedback(message_id, rating, edited_content, updated_at)"
                " VALUES (?, ?, ?, ?)",
                (mid, fb["rating"], fb.get("edited_content"), fb["updated_at"]),
            )
        sources = [
            SourceRef(**{**s, "flags": tuple(s.get("flags", ()))}, chunk_id=None)
            for s in m.get("sources", [])
        ]
        c.executemany(INSERT_SOURCE, [source_row(mid, s) for s in sources])
        calls = [
            ToolCallFinished(**{**t, "provenance": tuple(t.get("provenance", ()))})
            for t in m.get("tool_calls", [])
        ]
        c.executemany(INSERT_CALL, [call_row(mid, t) for t in calls])
        return mid

    @staticmethod
    def _insert_usage(
        c: Any, cid: int, mid: int, m: dict[str, Any], conv_model: str | None
    ) -> None:
        usage = m["usage"]
        c.execute(
            "INSERT INTO requests(conversation_id, message_id, stage, runtime, model,"
            " prompt_tokens, completion_tokens, created_at, detail)"
            " VALUES (?, ?, 'import', 'import', ?, ?, ?, ?, ?)",
            (
                cid,
                mid,
                m.get("model") or conv_model or "",
                usage["prompt_tokens"],
                usage["completion_tokens"],
                now(),
                json.dumps({"imported": True}),
            ),
        )
