"""What a request was run with, kept so it can be shown and run again.

Per request-log row: the model (picker name, file path and the file's size
and mtime, which key its hash in ``file_hashes``), the adapter and its hash,
the generation parameters, and -- unless ``[log] keep_full_text`` is off --
the messages exactly as the runtime received them and the reply. Retention
(``[log] retention_days``) and ``assistant log purge`` clear the texts
(``messages``, ``tools``, ``output``) and keep the rest: the figures and
versions of an old request stay, its words go.

Model files are hashed once: ``FileHashes`` caches sha256 by (path, size,
mtime_ns) in the database. Hashing runs at about 650 MB/s here, so a file
up to ``HASH_AT_RECORD_BYTES`` is hashed when first logged (0.15 s for the
bundled 98 MB SmolLM2, once per file ever); a bigger one is hashed when
``log show`` or ``replay`` first asks (the row keeps its size and mtime, so
a file changed in between is reported as changed, not misattributed).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.store.conversations import now
from backend.store.db import Database

HASH_AT_RECORD_BYTES = 1 << 30


@dataclass(frozen=True)
class RunInputs:
    """What one model call was given (``RequestLog.record(inputs=...)``)."""

    model_name: str
    model_path: Path | None
    params: dict[str, Any]
    messages: list[tuple[str, str]]
    """(role, content) as sent."""
    output: str
    adapter_path: Path | None = None
    tools: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class FileKey:
    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileKey | None:
        try:
            st = path.stat()
        except OSError:
            return None
        return cls(str(path), st.st_size, st.st_mtime_ns)


class FileHashes:
    """sha256 of files, cached by (path, size, mtime_ns)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def cached(self, key: FileKey) -> str | None:
        row = self.db.query_one(
            "SELECT sha256 FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ?",
            (key.path, key.size, key.mtime_ns),
        )
        return None if row is None else str(row["sha256"])

    def sha256(self, path: Path, max_bytes: int | None = None) -> str | None:
        """The file's hash (computed and cached if needed); None if it is
        missing, or bigger than ``max_bytes`` and not cached yet."""
        key = FileKey.of(path)
        if key is None:
            return None
        known = self.cached(key)
        if known is not None or (max_bytes is not None and key.size > max_bytes):
            return known
        try:
            with path.open("rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
        except OSError:
            return None
        if FileKey.of(path) != key:  # changed while we read it
            return None
        with self.db.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO file_hashes(path, size, mtime_ns, sha256)"
                " VALUES (?, ?, ?, ?)",
                (key.path, key.size, key.mtime_ns, digest),
            )
        return digest


class RequestInputs:
    def __init__(self, db: Database, keep_full_text: bool = True) -> None:
        self.db = db
        self.hashes = FileHashes(db)
        self.keep_full_text = keep_full_text

    def prepare(self, run: RunInputs) -> tuple[Any, ...]:
        """The row's values but the request id; hashes small files first
        (outside any transaction)."""
        key = FileKey.of(run.model_path) if run.model_path else None
        if run.model_path is not None and key is not None:
            self.hashes.sha256(run.model_path, HASH_AT_RECORD_BYTES)
        adapter_sha = self.hashes.sha256(run.adapter_path) if run.adapter_path else None
        keep = self.keep_full_text
        return (
            run.model_name,
            str(run.model_path) if run.model_path else None,
            key.size if key else None,
            key.mtime_ns if key else None,
            str(run.adapter_path) if run.adapter_path else None,
            adapter_sha,
            json.dumps(run.params, sort_keys=True, default=list),
            json.dumps([list(m) for m in run.messages], ensure_ascii=False) if keep else None,
            json.dumps(run.tools, ensure_ascii=False) if keep and run.tools else None,
            run.output if keep else None,
            now(),
        )

    def save_in(self, c: Any, request_id: int, values: tuple[Any, ...]) -> None:
        c.execute(
            "INSERT OR REPLACE INTO request_inputs(request_id, model_name, model_path,"
            " model_size, model_mtime_ns, adapter_path, adapter_sha256, params, messages,"
            " tools, output, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (request_id, *values),
        )

    def get(self, request_id: int) -> Any:
        return self.db.query_one("SELECT * FROM request_inputs WHERE request_id = ?", (request_id,))

    def model_sha256(self, row: Any, compute: bool = True) -> str | None:
        """The hash of the model file as it was when ``row`` was logged:
        cached, or computed now if the file is unchanged since."""
        if row["model_path"] is None or row["model_size"] is None:
            return None
        key = FileKey(row["model_path"], row["model_size"], row["model_mtime_ns"])
        known = self.hashes.cached(key)
        if known is not None or not compute or FileKey.of(Path(key.path)) != key:
            return known
        return self.hashes.sha256(Path(key.path))

    def purge(self, before: str | None) -> int:
        """Clear the kept texts of requests logged before ``before`` (an
        ISO date or time; None: all). Returns how many were cleared."""
        where = "messages IS NOT NULL OR output IS NOT NULL OR tools IS NOT NULL"
        params: tuple[Any, ...] = ()
        if before is not None:
            where = f"({where}) AND created_at < ?"
            params = (before,)
        with self.db.transaction() as c:
            cur = c.execute(
                f"UPDATE request_inputs SET messages = NULL, tools = NULL, output = NULL"
                f" WHERE {where}",
                params,
            )
            return int(cur.rowcount)
