"""Retrieval metrics for ``assistant eval retrieval``: pure functions, no I/O
beyond reading a question file.

A question line is ``{"q": ..., "gold": [paths], "answer": ...}`` with gold
paths relative to the evaluated folder (``root``). For one ranked hit list:

- *file level*: a hit is a chunk from a gold file;
- *passage level*: a hit is a chunk from a gold file whose text contains
  ``answer`` (case-insensitive) -- the stricter measure of whether the
  passage that answers the question was retrieved, not just its page.

Recall@k is 1 when any of the first k hits is a hit (so averaged over a set
it is the share of questions answered within k), MRR@10 is 1/rank of the
first hit within 10 (0 when none). ``aggregate`` averages per-question
scores into exactly the keys of ``METRIC_KEYS`` so every report and JSON
file has the same shape. Questions without an ``answer`` count as passage
misses, never as free hits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from backend.rag.types import METRIC_KEYS

RECALL_AT = (1, 5, 10)
MRR_AT = 10


class Ranked(Protocol):
    """What a ranked hit needs for scoring (``SearchHit`` has both)."""

    @property
    def path(self) -> str: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class Question:
    q: str
    gold: tuple[str, ...]
    answer: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Question:
        """One question line; ``gold`` may be a single path or a list."""
        gold = data.get("gold") or ()
        if isinstance(gold, str):
            gold = (gold,)
        if not isinstance(data.get("q"), str) or not data["q"].strip():
            raise ValueError(f"question line without a 'q': {dict(data)!r}")
        return cls(
            q=data["q"], gold=tuple(str(g) for g in gold), answer=str(data.get("answer") or "")
        )


def load_questions(path: Path | str) -> list[Question]:
    """Every non-blank line of a JSONL question file.

    Raises:
        ValueError: a line is not JSON or has no question (with its number).
    """
    questions = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            questions.append(Question.from_json(json.loads(line)))
        except (ValueError, AttributeError) as err:
            raise ValueError(f"{path}:{n}: {err}") from None
    return questions


def relative_path(path: str, root: Path | str | None) -> str:
    """``path`` relative to ``root`` with forward slashes (as gold paths are);
    unchanged when it is not under ``root`` or there is no root."""
    posix = path.replace("\\", "/")
    if root is None:
        return posix
    base = str(root).replace("\\", "/").rstrip("/")
    if posix.startswith(base + "/"):
        return posix[len(base) + 1 :]
    return posix


def _is_gold_file(path: str, gold: Sequence[str], root: Path | str | None) -> bool:
    rel = PurePosixPath(relative_path(path, root)).as_posix()
    return any(rel == PurePosixPath(g).as_posix() for g in gold)


def hit_flags(
    question: Question, hits: Iterable[Ranked], root: Path | str | None = None
) -> tuple[list[bool], list[bool]]:
    """Per rank: (is it a file-level hit, is it a passage-level hit)."""
    answer = question.answer.casefold()
    files, passages = [], []
    for hit in hits:
        in_gold = _is_gold_file(hit.path, question.gold, root)
        files.append(in_gold)
        passages.append(in_gold and bool(answer) and answer in hit.text.casefold())
    return files, passages


def recall_at(flags: Sequence[bool], k: int) -> float:
    """1.0 when any of the first ``k`` ranks is a hit, else 0.0."""
    return 1.0 if any(flags[:k]) else 0.0


def mrr_at(flags: Sequence[bool], k: int = MRR_AT) -> float:
    """1 / rank of the first hit within ``k``, 0.0 when there is none."""
    for rank, flag in enumerate(flags[:k], start=1):
        if flag:
            return 1.0 / rank
    return 0.0


def score_question(
    question: Question, hits: Iterable[Ranked], root: Path | str | None = None
) -> dict[str, float]:
    """All of ``METRIC_KEYS`` for one question and its ranked hits."""
    files, passages = hit_flags(question, hits, root)
    scores: dict[str, float] = {}
    for prefix, flags in (("", files), ("passage_", passages)):
        for k in RECALL_AT:
            scores[f"{prefix}recall@{k}"] = recall_at(flags, k)
        scores[f"{prefix}mrr@{MRR_AT}"] = mrr_at(flags, MRR_AT)
    return scores


def aggregate(per_question: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The mean of each metric over a set (all zeros for an empty set)."""
    n = len(per_question)
    return {key: (sum(s[key] for s in per_question) / n if n else 0.0) for key in METRIC_KEYS}


def evaluate(
    questions: Sequence[Question],
    rankings: Sequence[Iterable[Ranked]],
    root: Path | str | None = None,
) -> dict[str, float]:
    """``aggregate`` of ``score_question`` over questions and their rankings
    (one ranking per question, in the same order)."""
    if len(questions) != len(rankings):
        raise ValueError(f"{len(questions)} questions but {len(rankings)} rankings")
    return aggregate([score_question(q, r, root) for q, r in zip(questions, rankings, strict=True)])
