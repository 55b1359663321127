"""What an evaluation run takes and reports besides its metrics: the
question source, the modes asked for, progress, and cancellation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from backend.common.errors import NotFoundError
from backend.rag.evaluate import Question, load_questions
from backend.rag.types import EVAL_MODES, EvalProgress

Progress = Callable[[EvalProgress], None]


def fingerprint(questions: Sequence[Question]) -> str:
    """Short hash of a question set: runs with equal fingerprints measured
    the same questions."""
    digest = hashlib.sha1()
    for q in questions:
        digest.update(json.dumps([q.q, list(q.gold), q.answer]).encode())
    return digest.hexdigest()[:12]


def read_questions(source: str | Path | Sequence[dict[str, Any]]) -> tuple[list[Question], str]:
    """The questions and a description of where they came from."""
    if isinstance(source, str | Path):
        path = Path(source).expanduser()
        if not path.is_file():
            raise NotFoundError(f"question file {path} does not exist")
        questions = load_questions(path)
        origin = str(path.resolve())
    else:
        questions = []
        for n, line in enumerate(source, start=1):
            try:
                questions.append(Question.from_json(line))
            except (ValueError, AttributeError) as err:
                raise ValueError(f"question {n}: {err}") from None
        origin = "lines"
    if not questions:
        raise ValueError(f"no questions in {origin}")
    return questions, origin


def check_modes(modes: Sequence[str] | None) -> list[str]:
    chosen = list(dict.fromkeys(modes or EVAL_MODES))
    unknown = [m for m in chosen if m not in EVAL_MODES]
    if unknown:
        raise ValueError(
            f"unknown retrieval mode {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(EVAL_MODES)}"
        )
    return chosen
