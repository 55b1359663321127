"""Questions generated from the user's own indexed documents, so retrieval
can be measured on their corpus (``assistant eval generate`` / ``own``).

Chunks are sampled across documents (a seeded shuffle of the folder's
indexed documents, one chunk of each in turn, so a folder with one huge
file does not supply every question). For each chunk the chat model gets
one short hidden call asking for a question the passage answers. The
bundled 135M model is weak, so every model question passes
``good_question`` and, when it fails (or no model is used), a
deterministic *cloze* question stands in: the chunk's heading plus a
window of its most salient sentence with the salient phrase blanked out.

Each question's ``gold`` is the chunk's document (absolute path) and its
``answer`` a salient phrase of the chunk (an identifier such as
``os.walk`` when there is one, else its longest uncommon word), so the
passage-level metrics check that the very chunk was retrieved.

Known bias, on purpose: cloze questions share many words with their chunk,
so keyword search finds them easily. Use them to compare settings on the
same set over time, not as an absolute score.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from backend.knowledge.index_store import HEADING_SEPARATOR
from backend.rag.eval_runs import EvalQuestion
from backend.rag.judge import STOPWORDS, content_words
from backend.rag.types import Generate
from backend.runtimes.base import ChatMessage
from backend.store.db import Database

MIN_CHUNK_TOKENS = 24
QUESTION_TOKENS = 48
PASSAGE_CHARS = 1200
CLOZE_WINDOW_WORDS = 14
BLANK = "____"

PROMPT = (
    "Write one short question that the passage below answers. "
    "Ask it the way a user would, without copying whole sentences. "
    "Reply with the question only."
)
_TERM = re.compile(r"[A-Za-z_][\w.]*\w|[A-Za-z]{3,}")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_BAD_REFERENCES = re.compile(
    r"\b(the|this|that) (passage|text|document|section|paragraph|author|article)\b|\babove\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ChunkSample:
    chunk_id: int
    path: str
    heading: str
    text: str


def sample_chunks(db: Database, folder_id: int, n: int, seed: int = 0) -> list[ChunkSample]:
    """Up to ``n`` chunks of at least ``MIN_CHUNK_TOKENS`` tokens, spread
    over the folder's indexed documents (round robin over a seeded shuffle)."""
    docs = [
        (r["id"], r["path"])
        for r in db.query(
            "SELECT id, path FROM documents WHERE folder_id = ? AND status = 'indexed'"
            " AND chunk_count > 0 ORDER BY path",
            (folder_id,),
        )
    ]
    rng = random.Random(seed)
    rng.shuffle(docs)
    pools: dict[int, list[ChunkSample]] = {}
    out: list[ChunkSample] = []
    while len(out) < n and docs:
        for doc_id, path in list(docs):
            if doc_id not in pools:
                rows = db.query(
                    "SELECT id, heading, text FROM chunks WHERE document_id = ? AND tokens >= ?"
                    " ORDER BY ord",
                    (doc_id, MIN_CHUNK_TOKENS),
                )
                pool = [ChunkSample(r["id"], path, r["heading"], r["text"]) for r in rows]
                rng.shuffle(pool)
                pools[doc_id] = pool
            if not pools[doc_id]:
                docs.remove((doc_id, path))
                continue
            out.append(pools[doc_id].pop())
            if len(out) >= n:
                break
    return out


def _sentences(text: str) -> list[str]:
    return [" ".join(s.split()) for s in _SENTENCE.split(text) if s.strip()]


def _term_score(term: str) -> float:
    identifier = "." in term or "_" in term or bool(re.search(r"[a-z][A-Z]", term))
    return (4.0 if identifier else 0.0) + min(len(term), 16) / 4


def salient_phrase(text: str, avoid: set[str] | None = None) -> str:
    """The chunk's most telling term: a code identifier when there is one,
    else its longest uncommon word; words in ``avoid`` (lower-case) are
    skipped when anything else is left. Empty when nothing qualifies."""
    avoid = avoid or set()
    best, best_score = "", 0.0
    for term in _TERM.findall(text):
        term = term.strip(".")
        low = term.lower()
        if len(term) < 3 or low in STOPWORDS or term.isdigit():
            continue
        score = _term_score(term) - (10.0 if low in avoid else 0.0)
        if score > best_score:
            best, best_score = term, score
    return best


def salient_sentence(text: str) -> str:
    """The sentence (40-300 characters) with the most content words, ties to
    one holding an identifier; empty when none qualifies."""
    best, best_key = "", (0.0, 0)
    for s in _sentences(text):
        if not 40 <= len(s) <= 300:
            continue
        key = (max((_term_score(t) for t in _TERM.findall(s)), default=0.0), len(content_words(s)))
        if len(content_words(s)) >= 4 and key > best_key:
            best, best_key = s, key
    return best


def cloze_question(sample: ChunkSample) -> EvalQuestion | None:
    """``{heading}: what completes "... ____ ..."?`` from the salient
    sentence; None when the chunk has no usable sentence."""
    sentence = salient_sentence(sample.text)
    heading = sample.heading.split(HEADING_SEPARATOR)[-1].strip() if sample.heading else ""
    phrase = salient_phrase(sentence, {w.lower() for w in _TERM.findall(heading)})
    if not sentence or not phrase:
        return None
    words = sentence.split()
    at = next((i for i, w in enumerate(words) if phrase in w), None)
    if at is None:
        return None
    lo = max(0, at - CLOZE_WINDOW_WORDS // 2)
    window = words[lo : lo + CLOZE_WINDOW_WORDS]
    window[at - lo] = window[at - lo].replace(phrase, BLANK, 1)
    snippet = " ".join(window)
    prefix = f"{heading}: what" if heading else "What"
    return EvalQuestion(
        q=f'{prefix} fills the blank in "{snippet}"?',
        gold=sample.path,
        answer=phrase,
        chunk_id=sample.chunk_id,
    )


def clean_model_question(text: str) -> str:
    """The first question in a model's reply, without labels or quotes."""
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:\d+[.)]|[-*]|q(?:uestion)?\s*\d*\s*:)\s*", "", line, flags=re.I)
        line = line.strip().strip("\"'“”*").strip()
        if "?" in line:
            return line[: line.index("?") + 1].strip()
        if line:
            return line
    return ""


def good_question(q: str, chunk_text: str) -> bool:
    """Filters trivially bad generated questions: not a question, too short
    or long, no content, unrelated to the chunk, pointing at "the passage",
    or copying ten words of the chunk in a row."""
    words = q.split()
    if not q.endswith("?") or not 4 <= len(words) <= 30:
        return False
    if _BAD_REFERENCES.search(q):
        return False
    mine = content_words(q)
    if len(mine) < 2 or not mine & content_words(chunk_text):
        return False
    flat = " ".join(chunk_text.lower().split())
    low = [w.lower() for w in words]
    return not any(" ".join(low[i : i + 10]) in flat for i in range(len(low) - 9))


def model_question(sample: ChunkSample, generate: Generate) -> EvalQuestion | None:
    """One hidden call; None when the reply is not a good question."""
    messages = [
        ChatMessage("system", PROMPT),
        ChatMessage("user", f"Passage:\n{sample.text[:PASSAGE_CHARS]}\n\nQuestion:"),
    ]
    q = clean_model_question(generate(messages, QUESTION_TOKENS).text)
    if not good_question(q, sample.text):
        return None
    phrase = salient_phrase(sample.text, {w.lower() for w in _TERM.findall(q)})
    return EvalQuestion(q=q, gold=sample.path, answer=phrase, chunk_id=sample.chunk_id)


def generate_questions(
    samples: list[ChunkSample],
    n: int,
    generate: Generate | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> tuple[list[EvalQuestion], int]:
    """Up to ``n`` distinct questions from ``samples`` (pass more samples
    than ``n``: some yield nothing). Returns (questions, how many came from
    the model). ``progress(done, n)`` after each kept question."""
    out: list[EvalQuestion] = []
    seen: set[str] = set()
    from_model = 0
    for sample in samples:
        if len(out) >= n or (cancel is not None and cancel.is_set()):
            break
        made = model_question(sample, generate) if generate is not None else None
        by_model = made is not None
        made = made or cloze_question(sample)
        if made is None or not made.answer:
            continue
        key = " ".join(made.q.lower().split())
        if key in seen:
            continue
        seen.add(key)
        out.append(made)
        from_model += by_model
        if progress is not None:
            progress(len(out), n)
    return out, from_model
