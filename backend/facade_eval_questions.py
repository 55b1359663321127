"""Questions made from the user's own documents (``assistant eval
generate``), kept per folder for ``eval_own``; part of the evaluation half
of the ``Backend`` facade (``facade_eval``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from backend.common.errors import NotFoundError
from backend.rag.eval_inputs import Progress
from backend.rag.eval_runs import EvalQuestion, EvalStore
from backend.rag.query import generate_with
from backend.rag.question_gen import QUESTION_TOKENS, generate_questions, sample_chunks
from backend.rag.types import Completion, EvalCancelled, EvalProgress
from backend.runtimes.base import ChatMessage, GenerationParams

if TYPE_CHECKING:
    from backend.knowledge.service import KnowledgeBase
    from backend.modelfiles.catalog import ModelInfo
    from backend.rag.types import Generate
    from backend.runtimes.base import Runtime

T = TypeVar("T")
SAMPLES_PER_QUESTION = 3
"""Chunks sampled per wanted question (some yield no good question)."""


class QuestionMethods:
    kb: KnowledgeBase
    _generation_lock: threading.Lock

    if TYPE_CHECKING:  # provided by Backend and EvalMethods

        async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

        def _resolve_model(self, name: str | None) -> tuple[Runtime, ModelInfo]: ...

        @property
        def eval_store(self) -> EvalStore: ...

    async def generate_questions(
        self,
        folder: str | int,
        n: int = 20,
        use_model: bool = True,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        seed: int = 0,
    ) -> int:
        """Make ``n`` questions from chunks of an indexed ``folder`` (path or
        id) and keep them as its question set (replacing the old one).
        ``use_model``: one hidden call of the default chat model per chunk,
        falling back to a cloze question when the reply is not usable.
        Returns how many were stored."""
        if n < 1:
            raise ValueError("n must be at least 1")

        def run() -> int:
            found = self.kb.find_folder(folder)
            if not self.kb.store.documents(folder_id=found.id, status="indexed"):
                raise NotFoundError(f"{found.path} has no indexed documents; run `assistant index`")
            samples = sample_chunks(self.kb.store.db, found.id, n * SAMPLES_PER_QUESTION, seed)
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
            return self.eval_store.replace_questions(found.id, stored)

        return await self._run(run)

    def _question_model(self) -> Generate:
        """Hidden calls of the default chat model, one at a time with chat."""
        runtime, info = self._resolve_model(None)
        inner = generate_with(
            runtime, info, GenerationParams(max_tokens=QUESTION_TOKENS, temperature=0.0, seed=0)
        )

        def generate(messages: list[ChatMessage], max_tokens: int) -> Completion:
            with self._generation_lock:
                return inner(messages, max_tokens)

        return generate

    async def eval_questions(self, folder: str | int | None = None) -> list[EvalQuestion]:
        """The generated question set (of one folder, default all)."""

        def run() -> list[EvalQuestion]:
            ids = None if folder is None else [self.kb.find_folder(folder).id]
            return self.eval_store.questions(ids)

        return await self._run(run)
