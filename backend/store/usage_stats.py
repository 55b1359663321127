"""The request log over a period, for charts: tokens per day, speed per
model per day, where grounded answers spend their time, thumbs per prompt.

Plain SQL over ``requests`` (and ``feedback``/``messages``/``conversations``
for thumbs); days are UTC days of ``created_at``, so they group without
time-zone arithmetic in SQLite and match the stored timestamps. Percentiles
are computed in Python (SQLite has none), per day and model: a few hundred
rows a day at most.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from backend.store.db import Database
from backend.store.records import DailySpeed, DailyTokens, StageTime, ThumbsRatio, UsageStats
from backend.store.requests import percentile

SYSTEM_VERSION_SQL = (
    "SELECT pv.name || '@' || substr(pv.sha256, 1, 12) FROM requests r"
    " JOIN request_prompts rp ON rp.request_id = r.id"
    " JOIN prompt_versions pv ON pv.id = rp.version_id"
    " WHERE r.message_id = m.id AND r.stage = 'generate'"
    " AND (pv.name = 'chat.system' OR pv.name LIKE 'preset:%')"
    " ORDER BY r.id DESC LIMIT 1"
)
"""The system prompt version a reply was generated with (``name@sha12``,
``backend.store.prompt_versions``): thumbs are grouped by it, so a preset
edited mid-way shows as two rows. Replies logged before prompt versions
existed (or with the full-text log off) fall back to their conversation's
preset, with ``kind = "preset"``."""

STAGE_ORDER = ("condense", "retrieve", "rerank", "rewrite", "tool_decision", "tool", "generate")


def usage_stats(db: Database, since: str | None) -> UsageStats:
    """The period from ``since`` (ISO-8601 UTC; None: everything) to now."""
    start = since or ""
    rows = db.query(
        "SELECT substr(created_at, 1, 10) AS day, model, prompt_tokens, completion_tokens,"
        " ttft_ms, decode_tok_s, error FROM requests"
        " WHERE stage = 'generate' AND created_at >= ? ORDER BY created_at",
        (start,),
    )
    return UsageStats(
        since=since,
        tokens=_tokens(rows),
        speed=_speed(rows),
        grounded_answers=_grounded_count(db, start),
        stages=_stages(db, start),
        thumbs=_thumbs(db, start),
    )


def _tokens(rows: list[Any]) -> list[DailyTokens]:
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        s = sums[(r["day"], r["model"])]
        s[0] += 1
        s[1] += r["prompt_tokens"] or 0
        s[2] += r["completion_tokens"] or 0
    return [DailyTokens(day, model, *s) for (day, model), s in sorted(sums.items())]


def _speed(rows: list[Any]) -> list[DailySpeed]:
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in rows:
        if not r["error"]:
            groups[(r["day"], r["model"])].append(r)
    out = []
    for (day, model), rs in sorted(groups.items()):
        ttfts = [r["ttft_ms"] for r in rs if r["ttft_ms"] is not None]
        decode = [r["decode_tok_s"] for r in rs if r["decode_tok_s"]]
        out.append(
            DailySpeed(
                day=day,
                model=model,
                requests=len(rs),
                ttft_p50_ms=percentile(ttfts, 50),
                ttft_p95_ms=percentile(ttfts, 95),
                decode_tok_s=sum(decode) / len(decode) if decode else None,
            )
        )
    return out


_GROUNDED = (
    "SELECT g.id FROM requests g WHERE g.stage = 'generate' AND g.created_at >= ?"
    " AND EXISTS (SELECT 1 FROM requests s WHERE s.parent_request_id = g.id"
    " AND s.stage = 'retrieve')"
)


def _grounded_count(db: Database, start: str) -> int:
    row = db.query_one(f"SELECT count(*) AS n FROM ({_GROUNDED})", (start,))
    return int(row["n"]) if row else 0


def _stages(db: Database, start: str) -> list[StageTime]:
    """Each stage's time summed over grounded answers (a reply with a
    ``retrieve`` row), the reply's own ``generate`` time included."""
    answers = _grounded_count(db, start)
    if not answers:
        return []
    rows = db.query(
        f"SELECT stage, sum(total_ms) AS ms, count(*) AS n FROM requests"
        f" WHERE (id IN ({_GROUNDED}) OR parent_request_id IN ({_GROUNDED}))"
        f" AND total_ms IS NOT NULL GROUP BY stage",
        (start, start),
    )
    found = {r["stage"]: (float(r["ms"]), int(r["n"])) for r in rows}
    order = [s for s in STAGE_ORDER if s in found] + sorted(set(found) - set(STAGE_ORDER))
    return [StageTime(s, found[s][0], found[s][1], found[s][0] / answers) for s in order]


def _thumbs(db: Database, start: str) -> list[ThumbsRatio]:
    rows = db.query(
        "SELECT COALESCE(version, preset) AS prompt,"
        " CASE WHEN version IS NULL THEN 'preset' ELSE 'version' END AS kind,"
        " sum(rating = 1) AS up, sum(rating = -1) AS down FROM ("
        f" SELECT ({SYSTEM_VERSION_SQL}) AS version,"
        " COALESCE(c.preset, '(custom)') AS preset, f.rating AS rating"
        " FROM feedback f JOIN messages m ON m.id = f.message_id"
        " JOIN conversations c ON c.id = m.conversation_id"
        " WHERE m.role = 'assistant' AND f.rating != 0 AND m.created_at >= ?"
        ") GROUP BY prompt, kind ORDER BY prompt",
        (start,),
    )
    out = []
    for r in rows:
        up, down = int(r["up"] or 0), int(r["down"] or 0)
        ratio = up / (up + down) if up + down else None
        out.append(ThumbsRatio(r["prompt"], r["kind"], up, down, ratio))
    return out
