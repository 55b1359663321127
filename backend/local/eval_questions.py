"""Questions made from the user's own documents (``assistant eval
generate``), kept per folder for ``eval_own``: the question half of the
evaluation service."""

from __future__ import annotations

import threading
from collections.abc import Callable

from backend.common.errors import NotFoundError
from backend.local.core import Core
from backend.local.models import ModelService
from backend.rag.eval_runs import EvalQuestion
from backend.rag.query import generate_with
from backend.rag.question_gen import QUESTION_TOKENS, generate_questions, sample_chunks
from backend.rag.types import Completion, EvalCancelled, EvalProgress, Generate
from backend.runtimes.base import ChatMessage, GenerationParams

SAMPLES_PER_QUESTION = 3
"""Chunks sampled per wanted question (some yield no good question)."""


class QuestionSets:
    """Generated question sets, one per folder (sync: run in a worker thread)."""

    def __init__(self, core: Core, models: ModelService) -> None:
        self._core = core
        self._models = models

    def generate(
        self,
        folder: str | int,
        n: int,
        use_model: bool,
        progress: Callable[[EvalProgress], None] | None,
        cancel: threading.Event | None,
        seed: int,
    ) -> int:
        """Make and store ``n`` questions from ``folder``'s chunks; how many
        were stored (see ``EvaluationAPI.generate_questions``)."""
        kb = self._core.kb
        found = kb.find_folder(folder)
        if not kb.store.documents(folder_id=found.id, status="indexed"):
            raise NotFoundError(f"{found.path} has no indexed documents; run `assistant index`")
        samples = sample_chunks(kb.store.db, found.id, n * SAMPLES_PER_QUESTION, seed)
        generate = self._question_model() if use_model else None

        def report(done: int, total: int) -> None:
            if progress is not None:
                progress(EvalProgress(done, total, "generate"))

        made, _ = generate_questions(samples, n, generate, report, cancel)
        if cancel is not None and cancel.is_set():
            raise EvalCancelled("stopped before the end; the old questions are kept")
        if not made:
            raise ValueError(
                f"no usable question could be made from {found.path}: its chunks are too short"
            )
        stored = [EvalQuestion(q.q, q.gold, q.answer, q.chunk_id, found.id) for q in made]
        return self._core.stores.evals.replace_questions(found.id, stored)

    def questions(self, folder: str | int | None) -> list[EvalQuestion]:
        ids = None if folder is None else [self._core.kb.find_folder(folder).id]
        return self._core.stores.evals.questions(ids)

    def _question_model(self) -> Generate:
        """Hidden calls of the default chat model, one at a time with chat."""
        runtime, info = self._models.resolve(None)
        inner = generate_with(
            runtime, info, GenerationParams(max_tokens=QUESTION_TOKENS, temperature=0.0, seed=0)
        )
        generating = self._core.generating

        def generate(messages: list[ChatMessage], max_tokens: int) -> Completion:
            with generating():
                return inner(messages, max_tokens)

        return generate
