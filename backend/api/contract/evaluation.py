"""Contract: retrieval evaluation runs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from backend.rag.eval_runs import EvalQuestion, EvalRun
from backend.rag.types import EvalProgress


class EvaluationAPI(Protocol):
    """Retrieval and answer quality, on question files or on questions made
    from the user's own documents; every run is kept."""

    async def eval_retrieval(
        self,
        path_or_lines: str | Path | Sequence[dict[str, Any]],
        root: str | Path,
        modes: Sequence[str] | None = None,
        k: int = 10,
        label: str = "",
        save: bool = True,
        progress: Callable[[EvalProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """Recall@1/5/10 and MRR@10, file- and passage-level, per mode, for a
        question file (or its parsed lines) whose gold paths are relative to
        ``root`` (a watched, indexed folder). Returns ``{"n", "modes":
        {mode: {metric: value}}, ..., "run_id"}`` (None when not saved).

        Raises:
            NotFoundError: ``root`` is not indexed.
            EvalCancelled: cancelled (nothing is saved).
        """
        ...

    async def eval_own(
        self,
        modes: Sequence[str] | None = None,
        k: int = 10,
        label: str = "",
        save: bool = True,
        progress: Callable[[EvalProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """``eval_retrieval`` on the questions generated from the user's
        folders (``generate_questions``)."""
        ...

    async def eval_answers(
        self,
        path_or_lines: str | Path | Sequence[dict[str, Any]],
        root: str | Path,
        limit: int | None = None,
        label: str = "",
        save: bool = True,
        progress: Callable[[EvalProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """Ask each question as chat does and judge the answer: faithfulness,
        citation precision, answer-contains rate, gold file among sources."""
        ...

    async def eval_runs(self, kind: str | None = None, limit: int = 50) -> list[EvalRun]:
        """The most recent runs, oldest first."""
        ...

    async def eval_questions(self, folder: str | int | None = None) -> list[EvalQuestion]:
        """The generated question set (of one folder, default all)."""
        ...

    async def generate_questions(
        self,
        folder: str | int,
        n: int = 20,
        use_model: bool = True,
        progress: Callable[[EvalProgress], None] | None = None,
        cancel: threading.Event | None = None,
        seed: int = 0,
    ) -> int:
        """Make ``n`` questions from chunks of an indexed ``folder`` and keep
        them as its question set (replacing the old one); returns how many
        were stored. ``use_model``: one hidden call of the default chat model
        per chunk, else cloze questions."""
        ...
