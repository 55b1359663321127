from __future__ import annotations

from pathlib import Path

import pytest

from backend.common.errors import StoreError
from backend.store.db import Database
from backend.store.migrations import MIGRATIONS, migrate

EXPECTED_TABLES = {
    "_migrations",
    "conversations",
    "messages",
    "messages_fts",
    "feedback",
    "requests",
    "presets",
    "app_state",
    "folders",
    "documents",
    "chunks",
    "chunks_fts",
    "chunk_flags",
    "message_sources",
    "message_tool_calls",
    "eval_runs",
    "eval_questions",
    "chunks_fts_config",
    "chunks_fts_data",
    "chunks_fts_docsize",
    "chunks_fts_idx",
    "kb_meta",
    "prompt_versions",
    "request_prompts",
    "request_inputs",
    "file_hashes",
    "chat_chunks",
    "chat_chunks_fts",
    "chat_chunks_fts_config",
    "chat_chunks_fts_data",
    "chat_chunks_fts_docsize",
    "chat_chunks_fts_idx",
    "chat_indexed",
    "conversation_summaries",
    "memories",
    "message_memories",
}


def schema(db: Database) -> dict[str, list[str]]:
    tables = [
        r["name"]
        for r in db.query("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        if not r["name"].startswith("messages_fts_") and r["name"] != "sqlite_sequence"
    ]
    return {t: [c["name"] for c in db.query(f"PRAGMA table_info('{t}')")] for t in tables}


def test_blank_database_migrates_to_final_schema(tmp_path: Path) -> None:
    db = Database(tmp_path / "a.db")
    ran = migrate(db)
    assert ran == [name for name, _ in MIGRATIONS]
    final = schema(db)
    assert set(final) == EXPECTED_TABLES
    assert final["messages"] == [
        "id",
        "conversation_id",
        "parent_id",
        "role",
        "content",
        "model",
        "status",
        "selected_child_id",
        "created_at",
    ]
    assert {
        "prompt_tokens",
        "ttft_ms",
        "decode_tok_s",
        "prefill_tok_s",
        "stop_reason",
        "error",
        "stage",
        "cached_tokens",
    } <= set(final["requests"])
    assert {"use_documents", "folder_scope", "use_tools", "incognito", "memory_ids"} <= set(
        final["conversations"]
    )
    assert final["memories"][:6] == [
        "id",
        "text",
        "source",
        "conversation_id",
        "message_id",
        "embedding",
    ]
    assert final["message_tool_calls"][:4] == ["message_id", "step", "call_id", "name"]
    assert final["documents"][-3:] == ["text_hash", "minhash", "duplicate_of"]
    assert final["prompt_versions"] == ["id", "name", "sha256", "text", "created_at"]
    assert final["request_prompts"] == ["request_id", "version_id"]
    assert {"model_path", "adapter_sha256", "params", "messages", "output"} <= set(
        final["request_inputs"]
    )
    assert final["message_sources"][-4:] == ["kind", "conversation_id", "source_message_id", "date"]
    assert db.query_one("PRAGMA journal_mode")[0] == "wal"
    assert migrate(db) == []  # idempotent


def test_partially_migrated_database_catches_up(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Database(path)
    # an "old release": only the first two migrations existed
    import backend.store.migrations as m

    saved = list(m.MIGRATIONS)
    try:
        m.MIGRATIONS[:] = saved[:2]
        assert len(migrate(old)) == 2
    finally:
        m.MIGRATIONS[:] = saved
    old.close()
    db = Database(path)
    assert migrate(db) == [name for name, _ in saved[2:]]
    fresh = Database(tmp_path / "fresh.db")
    migrate(fresh)
    assert schema(db) == schema(fresh)


def test_newer_database_is_refused(tmp_path: Path) -> None:
    db = Database(tmp_path / "n.db")
    migrate(db)
    with db.transaction() as c:
        c.execute("INSERT INTO _migrations(name, applied_at) VALUES ('m999_future', 'x')")
    with pytest.raises(StoreError, match="newer version"):
        migrate(db)


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        migrate(Database(path))


def test_failed_migration_leaves_no_trace(tmp_path: Path) -> None:
    import backend.store.migrations as m

    db = Database(tmp_path / "f.db")
    saved = list(m.MIGRATIONS)
    try:
        m.MIGRATIONS.append(("m900_broken", "CREATE TABLE half (x); SELECT * FROM nowhere;"))
        with pytest.raises(StoreError, match="m900_broken"):
            migrate(db)
    finally:
        m.MIGRATIONS[:] = saved
    names = {r["name"] for r in db.query("SELECT name FROM sqlite_master")}
    assert "half" not in names
    assert "m900_broken" not in {r["name"] for r in db.query("SELECT name FROM _migrations")}
