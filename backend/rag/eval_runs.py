"""Evaluation runs and generated questions, kept in the database (m009).

Plain SQL on purpose, like the request log: ``sqlite3 assistant.db 'select
created_at, kind, n, metrics from eval_runs'`` answers "did my change to
chunking help?" without the app.

``metrics`` and ``settings`` are JSON. For retrieval runs ``metrics`` is the
``{mode: {metric: value}}`` map ``assistant eval retrieval --json`` prints;
``settings`` records what the run measured (k, the modes, the embedding
model, the ``[rag]`` section, the question set's fingerprint), so two runs
can be told apart when recall moves.

Generated questions are replaced per folder (``replace_questions``): one
current set per folder, so runs of ``assistant eval own`` over time measure
the same questions until the user generates a new set (its fingerprint,
stored in each run's ``settings``, then changes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backend.common.errors import NotFoundError
from backend.store.conversations import now
from backend.store.db import Database

KINDS = ("retrieval", "own", "answers")


@dataclass(frozen=True)
class EvalRun:
    id: int
    kind: str
    """``retrieval`` (a question file), ``own`` (generated questions) or
    ``answers`` (faithfulness and citations)."""
    label: str
    questions: str
    """Where the questions came from: a file path, or ``generated``."""
    n: int
    metrics: dict[str, Any]
    settings: dict[str, Any]
    created_at: str

    @property
    def mode(self) -> str | None:
        """The retrieval mode summaries show: ``default`` when the run
        measured it, else the first one measured; None for answer runs."""
        modes = [m for m, v in self.metrics.items() if isinstance(v, dict)]
        return "default" if "default" in modes else (modes[0] if modes else None)

    def metric(self, name: str, mode: str | None = None) -> float | None:
        """One number of the run: ``metrics[mode][name]`` for retrieval runs
        (``mode`` defaults to ``self.mode``), ``metrics[name]`` for answer
        runs; None when the run lacks it."""
        mode = mode or self.mode
        per_mode = self.metrics.get(mode) if mode else None
        value = per_mode.get(name) if isinstance(per_mode, dict) else self.metrics.get(name)
        return float(value) if isinstance(value, int | float) else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "questions": self.questions,
            "n": self.n,
            "metrics": self.metrics,
            "settings": self.settings,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class EvalQuestion:
    """A question generated from one chunk; ``gold`` is the chunk's document
    (an absolute path), ``answer`` a salient phrase of the chunk."""

    q: str
    gold: str
    answer: str = ""
    chunk_id: int | None = None
    folder_id: int | None = None
    id: int = 0
    created_at: str = ""

    def as_line(self) -> dict[str, Any]:
        """The question as a line of a question file (gold as a list)."""
        return {"q": self.q, "gold": [self.gold], "answer": self.answer}


def _run(row: Any) -> EvalRun:
    return EvalRun(
        id=row["id"],
        kind=row["kind"],
        label=row["label"],
        questions=row["questions"],
        n=row["n"],
        metrics=json.loads(row["metrics"] or "{}"),
        settings=json.loads(row["settings"] or "{}"),
        created_at=row["created_at"],
    )


def _question(row: Any) -> EvalQuestion:
    return EvalQuestion(
        id=row["id"],
        folder_id=row["folder_id"],
        q=row["q"],
        gold=row["gold"],
        answer=row["answer"] or "",
        chunk_id=row["chunk_id"],
        created_at=row["created_at"],
    )


class EvalStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # runs --------------------------------------------------------------
    def save_run(
        self,
        kind: str,
        *,
        n: int,
        metrics: dict[str, Any],
        settings: dict[str, Any] | None = None,
        label: str = "",
        questions: str = "",
    ) -> EvalRun:
        if kind not in KINDS:
            raise ValueError(f"unknown evaluation kind {kind!r}; one of {', '.join(KINDS)}")
        with self.db.transaction() as c:
            cur = c.execute(
                "INSERT INTO eval_runs(kind, label, questions, n, metrics, settings, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    kind,
                    label,
                    questions,
                    n,
                    json.dumps(metrics, sort_keys=True),
                    json.dumps(settings or {}, sort_keys=True, default=str),
                    now(),
                ),
            )
            run_id = int(cur.lastrowid)
        return self.run(run_id)

    def run(self, run_id: int) -> EvalRun:
        row = self.db.query_one("SELECT * FROM eval_runs WHERE id = ?", (run_id,))
        if row is None:
            raise NotFoundError(f"no evaluation run {run_id}")
        return _run(row)

    def runs(self, kind: str | None = None, limit: int = 50) -> list[EvalRun]:
        """The most recent ``limit`` runs, oldest first (the order a chart
        of recall over time reads)."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown evaluation kind {kind!r}; one of {', '.join(KINDS)}")
        where, params = ("WHERE kind = ?", (kind,)) if kind else ("", ())
        rows = self.db.query(
            f"SELECT * FROM eval_runs {where} ORDER BY id DESC LIMIT ?", (*params, limit)
        )
        return [_run(r) for r in reversed(rows)]

    def delete_run(self, run_id: int) -> bool:
        with self.db.transaction() as c:
            return c.execute("DELETE FROM eval_runs WHERE id = ?", (run_id,)).rowcount > 0

    # generated questions ---------------------------------------------
    def replace_questions(self, folder_id: int, questions: Sequence[EvalQuestion]) -> int:
        """Make ``questions`` the folder's question set (the old set goes)."""
        stamp = now()
        with self.db.transaction() as c:
            c.execute("DELETE FROM eval_questions WHERE folder_id = ?", (folder_id,))
            c.executemany(
                "INSERT INTO eval_questions(folder_id, q, gold, answer, chunk_id, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(folder_id, q.q, q.gold, q.answer or None, q.chunk_id, stamp) for q in questions],
            )
        return len(questions)

    def questions(self, folder_ids: Sequence[int] | None = None) -> list[EvalQuestion]:
        """Generated questions (of ``folder_ids``, default all), in order."""
        if folder_ids is None:
            rows = self.db.query("SELECT * FROM eval_questions ORDER BY folder_id, id")
        else:
            marks = ",".join("?" * len(folder_ids)) or "NULL"
            rows = self.db.query(
                f"SELECT * FROM eval_questions WHERE folder_id IN ({marks}) ORDER BY folder_id, id",
                tuple(folder_ids),
            )
        return [_question(r) for r in rows]
