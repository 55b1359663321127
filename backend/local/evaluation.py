"""The evaluation service (``assistant eval``):
retrieval metrics per mode on a question file or on questions generated
from the user's documents, answer faithfulness and citation precision, and
the history of runs.

Decisions:

- The folder evaluated must already be watched and indexed: evaluation
  never indexes (it would measure a half-built index). Retrieval is scoped
  to that folder, so other watched folders cannot push gold files down.
- Every mode goes through the documents service's ``retrieve``, so ``default`` measures
  exactly what chat uses.
- Runs are saved (``eval_runs``) unless ``save=False``; a cancelled run is
  never saved (``EvalCancelled`` is raised, nothing half-done is kept).
- Gold files that are not in the index are reported (``unindexed_gold``),
  not fatal: one failed file should not block an evaluation, but a typo in a
  question file should be visible.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from backend.chat.prompt_catalog import builtin_prompts
from backend.common.errors import NotFoundError
from backend.common.events import CitationsParsed, ErrorEvent, MessageSaved, SourcesRetrieved
from backend.knowledge.embedder import DEFAULT_MODEL_NAME, Embedder, SentenceTransformerEmbedder
from backend.knowledge.records import Folder
from backend.local.chat import ChatService
from backend.local.conversations import ConversationService
from backend.local.core import Core
from backend.local.documents import DocumentService
from backend.local.eval_questions import QuestionSets
from backend.local.models import ModelService
from backend.rag.eval_inputs import check_modes, fingerprint, read_questions
from backend.rag.eval_runs import EvalQuestion, EvalRun
from backend.rag.evaluate import Question, aggregate, score_question
from backend.rag.judge import AnswerJudgement, Judge, summarise
from backend.rag.types import EvalCancelled, EvalProgress

Progress = Callable[[EvalProgress], None]


class EvaluationService:
    """Implements ``backend.api.contract.EvaluationAPI``."""

    def __init__(
        self,
        core: Core,
        models: ModelService,
        documents: DocumentService,
        conversations: ConversationService,
        chat: ChatService,
    ) -> None:
        self._core = core
        self._documents = documents
        self._conversations = conversations
        self._chat = chat
        self._questions = QuestionSets(core, models)

    # -- helpers (sync ones run in a worker thread) ------------------------
    def _indexed_folder(self, root: str | Path) -> Folder:
        """The watched folder holding ``root`` (it or a parent), which must
        have indexed documents."""
        path = Path(root).expanduser().resolve()
        if not path.is_dir():
            raise NotFoundError(f"{path} is not a folder")
        for folder in self._core.kb.store.folders():
            if path == Path(folder.path) or path.is_relative_to(folder.path):
                if self._core.kb.store.documents(folder_id=folder.id, status="indexed"):
                    return folder
                break
        raise NotFoundError(
            f"{path} is not indexed: add it with `assistant folders add {path}` "
            "and run `assistant index` first"
        )

    def _unindexed_gold(self, questions: Sequence[Question], root: Path | None) -> list[str]:
        indexed = {d.path for d in self._core.kb.store.documents(status="indexed")}
        missing: list[str] = []
        for q in questions:
            for g in q.gold:
                full = str(root / g) if root is not None else g
                if full not in indexed and g not in missing:
                    missing.append(g)
        return missing

    def _run_settings(self, folder_ids: list[int], k: int) -> dict[str, Any]:
        """What a run measured with, so runs over time can be compared."""
        marks = ",".join("?" * len(folder_ids))
        row = self._core.kb.store.db.query_one(
            "SELECT count(*) AS n FROM chunks c JOIN documents d ON d.id = c.document_id"
            f" WHERE d.folder_id IN ({marks})",
            tuple(folder_ids),
        )
        return {
            "k": k,
            "folder_ids": folder_ids,
            "chunks": int(row["n"]),
            "embedding_model": self._core.kb.embedder.name,
            "rag": self._core.settings.rag.model_dump(mode="json"),
            "prompts": self._core.stores.requests.prompts.register(builtin_prompts().items()),
        }

    def _judge(self) -> Judge:
        """The thresholds are calibrated on MiniLM: reuse the index's
        embedder when it is MiniLM, else load MiniLM for judging."""
        embedder: Embedder = self._core.kb.embedder
        if embedder.name != DEFAULT_MODEL_NAME:
            embedder = SentenceTransformerEmbedder()
        return Judge(embedder)

    async def _measure(
        self,
        questions: list[Question],
        root: Path | None,
        folder_ids: list[int],
        modes: list[str],
        k: int,
        progress: Progress | None,
        cancel: threading.Event | None,
    ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        """Metrics and mean milliseconds per query, for each mode."""
        total = len(questions) * len(modes)
        metrics: dict[str, dict[str, float]] = {}
        latency: dict[str, float] = {}
        done = 0
        for mode in modes:
            scores = []
            started = time.perf_counter()
            for q in questions:
                if cancel is not None and cancel.is_set():
                    raise EvalCancelled("stopped before the end; nothing was saved")
                result = await self._documents.retrieve(q.q, mode=mode, k=k, folder_ids=folder_ids)
                scores.append(score_question(q, result.hits, root))
                done += 1
                if progress is not None:
                    progress(EvalProgress(done, total, mode))
            metrics[mode] = aggregate(scores)
            latency[mode] = round((time.perf_counter() - started) * 1000 / len(questions), 1)
        return metrics, latency

    # the API ---------------------------------------------------------------
    async def eval_retrieval(
        self,
        path_or_lines: str | Path | Sequence[dict[str, Any]],
        root: str | Path,
        modes: Sequence[str] | None = None,
        k: int = 10,
        label: str = "",
        save: bool = True,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """Recall@1/5/10 and MRR@10, file- and passage-level, per mode, for a
        question file (or its parsed lines) whose gold paths are relative to
        ``root``. Returns ``{"n", "modes": {mode: {metric: value}}, ...}``
        with ``run_id`` (None when not saved)."""
        if k < 1:
            raise ValueError("k must be at least 1")
        questions, origin = read_questions(path_or_lines)
        chosen = check_modes(modes)
        folder = await self._core.run(self._indexed_folder, root)
        base = Path(root).expanduser().resolve()
        unindexed = await self._core.run(self._unindexed_gold, questions, base)
        metrics, latency = await self._measure(
            questions, base, [folder.id], chosen, k, progress, cancel
        )
        settings = await self._core.run(self._run_settings, [folder.id], k)
        settings |= {"root": str(base), "question_set": fingerprint(questions)}
        return await self._finish(
            "retrieval", questions, origin, metrics, latency, settings, unindexed, label, save
        )

    async def eval_own(
        self,
        modes: Sequence[str] | None = None,
        k: int = 10,
        label: str = "",
        save: bool = True,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """``eval_retrieval`` on the questions generated from the user's
        folders (``generate_questions``); gold paths are absolute."""
        if k < 1:
            raise ValueError("k must be at least 1")
        chosen = check_modes(modes)
        stored = await self._core.run(self._core.stores.evals.questions)
        if not stored:
            raise NotFoundError(
                "no generated questions yet: run `assistant eval generate --folder PATH` first"
            )
        questions = [Question(q.q, (q.gold,), q.answer) for q in stored]
        folder_ids = sorted({q.folder_id for q in stored if q.folder_id is not None})
        unindexed = await self._core.run(self._unindexed_gold, questions, None)
        metrics, latency = await self._measure(
            questions, None, folder_ids, chosen, k, progress, cancel
        )
        settings = await self._core.run(self._run_settings, folder_ids, k)
        settings["question_set"] = fingerprint(questions)
        return await self._finish(
            "own", questions, "generated", metrics, latency, settings, unindexed, label, save
        )

    async def _finish(
        self,
        kind: str,
        questions: list[Question],
        origin: str,
        metrics: dict[str, dict[str, float]],
        latency: dict[str, float],
        settings: dict[str, Any],
        unindexed: list[str],
        label: str,
        save: bool,
    ) -> dict[str, Any]:
        run_id = None
        if save:
            run = await self._core.run(
                self._core.stores.evals.save_run,
                kind,
                n=len(questions),
                metrics=metrics,
                settings=settings | {"latency_ms": latency},
                label=label,
                questions=origin,
            )
            run_id = run.id
        return {
            "n": len(questions),
            "with_answer": sum(1 for q in questions if q.answer),
            "modes": metrics,
            "latency_ms": latency,
            "unindexed_gold": unindexed,
            "questions": origin,
            "run_id": run_id,
        }

    async def eval_answers(
        self,
        path_or_lines: str | Path | Sequence[dict[str, Any]],
        root: str | Path,
        limit: int | None = None,
        label: str = "",
        save: bool = True,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """Ask each question as chat does (a temporary conversation answering
        from ``root``'s folder, deleted afterwards) and judge the answer:
        faithfulness, citation precision, answer-contains rate, and how often
        a gold file was among the sources."""
        questions, origin = read_questions(path_or_lines)
        if limit is not None:
            if limit < 1:
                raise ValueError("limit must be at least 1")
            questions = questions[:limit]
        folder = await self._core.run(self._indexed_folder, root)
        base = Path(root).expanduser().resolve()
        judge = await self._core.run(self._judge)
        rows: list[dict[str, Any]] = []
        judgements: list[AnswerJudgement] = []
        gold_hits = errors = 0
        for i, q in enumerate(questions, start=1):
            if cancel is not None and cancel.is_set():
                raise EvalCancelled("stopped before the end; nothing was saved")
            answer, texts, paths, cited, error = await self._ask(q.q, folder.id)
            verdict = await self._core.run(judge.judge, answer, texts, cited, q.answer)
            golds = {str(base / g) for g in q.gold}
            gold_hit = any(path in golds for path in paths.values())
            judgements.append(verdict)
            gold_hits += gold_hit
            errors += error is not None
            rows.append(
                {
                    "q": q.q,
                    "answer": answer,
                    "error": error,
                    "cited": list(verdict.cited),
                    "faithfulness": verdict.faithfulness,
                    "citation_precision": verdict.citation_precision,
                    "contains_answer": verdict.contains_answer,
                    "gold_in_sources": gold_hit,
                    "unsupported": [s.text for s in verdict.sentences if not s.supported],
                }
            )
            if progress is not None:
                progress(EvalProgress(i, len(questions), "answers"))
        metrics = summarise(judgements) | {
            "gold_in_sources": gold_hits / len(questions),
            "errors": errors,
        }
        run_id = None
        if save:
            settings = await self._core.run(
                self._run_settings, [folder.id], self._core.settings.rag.top_k
            )
            settings |= {"root": str(base), "question_set": fingerprint(questions)}
            run = await self._core.run(
                self._core.stores.evals.save_run,
                "answers",
                n=len(questions),
                metrics=metrics,
                settings=settings,
                label=label,
                questions=origin,
            )
            run_id = run.id
        return {"n": len(questions), "metrics": metrics, "answers": rows, "run_id": run_id}

    async def _ask(
        self, question: str, folder_id: int
    ) -> tuple[str, dict[int, str], dict[int, str], list[int], str | None]:
        """(answer, {n: passage text}, {n: path}, cited numbers, error) of one
        grounded reply in a throw-away conversation."""
        conv = await self._conversations.create_conversation("eval: " + question[:40])
        texts: dict[int, str] = {}
        paths: dict[int, str] = {}
        cited: list[int] = []
        answer, error = "", None
        try:
            await self._documents.set_conversation_documents(conv.id, True, [folder_id])
            stream = await self._chat.send(conv.id, question, source="documents")
            async for event in stream:
                if isinstance(event, SourcesRetrieved):
                    texts = {s.n: s.text for s in event.sources}
                    paths = {s.n: s.path for s in event.sources}
                elif isinstance(event, CitationsParsed):
                    cited = list(event.cited)
                elif isinstance(event, ErrorEvent):
                    error = event.message
                elif isinstance(event, MessageSaved):
                    answer = event.content
        finally:
            await self._conversations.delete_conversation(conv.id)
        return answer, texts, paths, cited, error

    async def eval_runs(self, kind: str | None = None, limit: int = 50) -> list[EvalRun]:
        """The most recent runs, oldest first."""
        return await self._core.run(self._core.stores.evals.runs, kind, limit)

    async def eval_questions(self, folder: str | int | None = None) -> list[EvalQuestion]:
        return await self._core.run(self._questions.questions, folder)

    async def generate_questions(
        self,
        folder: str | int,
        n: int = 20,
        use_model: bool = True,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        seed: int = 0,
    ) -> int:
        if n < 1:
            raise ValueError("n must be at least 1")
        return await self._core.run(
            self._questions.generate, folder, n, use_model, progress, cancel, seed
        )
