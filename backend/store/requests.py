"""The request log: one row per model call and per RAG stage.

It is plain SQL on purpose: ``sqlite3 assistant.db 'select * from requests'``
answers "why was that reply slow?" without the app.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from statistics import quantiles
from typing import Any

from backend.common.events import Usage
from backend.store.conversations import now
from backend.store.db import Database
from backend.store.prompt_versions import PromptPart, PromptVersions
from backend.store.records import LoggedMessage, ModelStats, RequestDetail, RequestRecord
from backend.store.request_inputs import RequestInputs, RunInputs


def percentile(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return quantiles(values, n=100, method="inclusive")[pct - 1]


class RequestLog:
    """The ``requests`` table, with the prompt versions (``prompts``) and
    the inputs (``inputs``) each row was run with."""

    def __init__(self, db: Database, keep_full_text: bool = True) -> None:
        self.db = db
        self.prompts = PromptVersions(db)
        self.inputs = RequestInputs(db, keep_full_text)

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
        prompts: Sequence[PromptPart] = (),
        inputs: RunInputs | None = None,
    ) -> int:
        """One row; ``total_ms`` times a stage that called no model
        (``usage`` None), e.g. retrieval. ``prompts`` are the named prompt
        texts the call used (linked as versions); ``inputs`` what it was run
        with, kept for ``detail`` and replay."""
        u = usage
        values = self.inputs.prepare(inputs) if inputs is not None else None
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
            request_id = int(cur.lastrowid)
            self.prompts.link_in(c, request_id, prompts)
            if values is not None:
                self.inputs.save_in(c, request_id, values)
            return request_id

    def get(self, request_id: int) -> RequestRecord | None:
        row = self.db.query_one("SELECT * FROM requests WHERE id = ?", (request_id,))
        return _record(row) if row else None

    def detail(self, request_id: int, hash_model: bool = True) -> RequestDetail | None:
        """The row with its prompt versions and inputs (``hash_model``: hash
        a big model file now if it was not hashed when logged)."""
        record = self.get(request_id)
        if record is None:
            return None
        prompts = tuple(self.prompts.for_request(request_id))
        row = self.inputs.get(request_id)
        if row is None:
            return RequestDetail(record, prompts)
        messages = None
        if row["messages"] is not None:
            messages = tuple(LoggedMessage(r, c) for r, c in json.loads(row["messages"]))
        return RequestDetail(
            request=record,
            prompts=prompts,
            model_name=row["model_name"],
            model_path=row["model_path"],
            model_sha256=self.inputs.model_sha256(row, compute=hash_model),
            adapter_path=row["adapter_path"],
            adapter_sha256=row["adapter_sha256"],
            params=json.loads(row["params"]),
            messages=messages,
            tools=row["tools"],
            output=row["output"],
        )

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
