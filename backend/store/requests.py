"""The request log: one row per model call and per RAG stage.

It is plain SQL on purpose: ``sqlite3 assistant.db 'select * from requests'``
answers "why was that reply slow?" without the app.
"""

from __future__ import annotations

from statistics import quantiles
from typing import Any

from backend.common.events import Usage
from backend.store.conversations import now
from backend.store.db import Database
from backend.store.records import ModelStats, RequestRecord


def percentile(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return quantiles(values, n=100, method="inclusive")[pct - 1]


class RequestLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self,
        *,
        runtime: str,
        model: str,
        usage: Usage | None,
        stop_reason: str | None,
        error: str | None = None,
        conversation_id: int | None = None,
        message_id: int | None = None,
        stage: str = "generate",
        parent_request_id: int | None = None,
        detail: str | None = None,
        total_ms: float | None = None,
    ) -> int:
        """One row; ``total_ms`` times a stage that called no model
        (``usage`` None), e.g. retrieval."""
        u = usage
        with self.db.transaction() as c:
            cur = c.execute(
                "INSERT INTO requests(conversation_id, message_id, parent_request_id, stage,"
                " runtime, model, prompt_tokens, cached_tokens, completion_tokens, ttft_ms,"
                " prefill_tok_s, decode_tok_s, total_ms, stop_reason, error, created_at, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    message_id,
                    parent_request_id,
                    stage,
                    runtime,
                    model,
                    u.prompt_tokens if u else None,
                    u.cached_tokens if u else None,
                    u.completion_tokens if u else None,
                    u.ttft_ms if u else None,
                    u.prefill_tok_s if u else None,
                    u.decode_tok_s if u else None,
                    u.total_ms if u else total_ms,
                    stop_reason,
                    error,
                    now(),
                    detail,
                ),
            )
            return int(cur.lastrowid)

    def get(self, request_id: int) -> RequestRecord | None:
        row = self.db.query_one("SELECT * FROM requests WHERE id = ?", (request_id,))
        return _record(row) if row else None

    def recent(self, limit: int = 100, conversation_id: int | None = None) -> list[RequestRecord]:
        if conversation_id is None:
            rows = self.db.query("SELECT * FROM requests ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self.db.query(
                "SELECT * FROM requests WHERE conversation_id = ? ORDER BY id DESC LIMIT ?",
                (conversation_id, limit),
            )
        return [_record(r) for r in rows]

    def stats(self) -> list[ModelStats]:
        """Per model: counts, tokens, TTFT p50/p95 and mean speeds."""
        rows = self.db.query(
            "SELECT model, runtime, ttft_ms, decode_tok_s, prefill_tok_s, prompt_tokens,"
            " completion_tokens, error FROM requests WHERE stage = 'generate'"
        )
        groups: dict[tuple[str, str], list[Any]] = {}
        for r in rows:
            groups.setdefault((r["model"], r["runtime"]), []).append(r)
        out = []
        for (model, runtime), rs in sorted(groups.items()):
            ttfts = [r["ttft_ms"] for r in rs if r["ttft_ms"] is not None and not r["error"]]
            dec = [r["decode_tok_s"] for r in rs if r["decode_tok_s"]]
            pre = [r["prefill_tok_s"] for r in rs if r["prefill_tok_s"]]
            out.append(
                ModelStats(
                    model=model,
                    runtime=runtime,
                    requests=len(rs),
                    errors=sum(1 for r in rs if r["error"]),
                    prompt_tokens=sum(r["prompt_tokens"] or 0 for r in rs),
                    completion_tokens=sum(r["completion_tokens"] or 0 for r in rs),
                    ttft_p50_ms=percentile(ttfts, 50),
                    ttft_p95_ms=percentile(ttfts, 95),
                    decode_tok_s_avg=sum(dec) / len(dec) if dec else None,
                    prefill_tok_s_avg=sum(pre) / len(pre) if pre else None,
                )
            )
        return out


def _record(row: Any) -> RequestRecord:
    return RequestRecord(**{k: row[k] for k in RequestRecord.__dataclass_fields__})
