"""Training queries for a query adapter, derived from the index's own structure.

A query adapter (``trainer.query_adapter``) teaches the query side of the
embedding model where the user's questions land in *their* index. Nobody has
labelled questions for a private folder, so the pairs come from the documents'
structure, never from an evaluation set:

- ``entry-name``: an API entry (a Sphinx ``<dl class="py">`` entry, which the
  HTML parser makes its own section with the signature as the last heading)
  asked about by its qualified name -- ``What is dict.setdefault?``, ``What
  does dict.setdefault do?``, ``How do I use ...?`` or the bare name, picked
  at random -- -> that entry's first chunk. Nested entries get their class's name
  (``setdefault`` under ``class dict(**kwargs)`` is ``dict.setdefault``).
- ``entry-description``: the entry's first sentence, which says what it does
  in the words a user would ask with (``Return a pair of numbers consisting
  of their quotient and remainder``) -> the entry.
- ``heading``: a section title of three words or more (FAQ titles are
  questions: ``How do I iterate over a sequence in reverse order?``) -> the
  section's first chunk.
- ``sentence``: one sentence of a prose chunk (inverse cloze) -> that chunk.

Each pair carries the chunk's ``group`` (its document and heading), so
training does not treat a sibling chunk of the same section as a wrong answer.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from backend.knowledge.index_store import HEADING_SEPARATOR

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(`\"'])")
# Sphinx prefixes a signature with its kind; the name is what follows.
_SIGNATURE = re.compile(
    r"^@?(?:(?:abstractmethod|async|await|class|classmethod|coroutine|exception|final|"
    r"method|property|staticmethod|type|data|attribute|function|macro|struct|union|"
    r"enum|var|const|[A-Za-z_]\w*\s*\*+|void|int|char|long|unsigned|double|size_t|"
    r"Py_ssize_t|PyObject\s*\*)\s+)*([A-Za-z_][\w.]*)\s*(\(|$|\s*=|\s*:)"
)
_NAME_TEMPLATES = ("What is {}?", "What does {} do?", "How do I use {}?", "{}")
_MIN_QUERY_WORDS = 4
# Sphinx version notes say nothing a user would ask about.
_BOILERPLATE = ("New in version", "Changed in version", "Deprecated since version", "See also")
_MAX_QUERY_CHARS = 300


@dataclass(frozen=True)
class ChunkRow:
    """One indexed chunk as the adapter's data needs it."""

    chunk_id: int
    document: str
    heading: str
    text: str


@dataclass(frozen=True)
class QueryPair:
    """A synthetic query and the chunk that answers it."""

    query: str
    chunk_id: int
    group: str
    kind: str


def signature_name(line: str) -> str | None:
    """The name an API signature defines (``os.path.getmtime(path)`` ->
    ``os.path.getmtime``, ``class dict(**kwargs)`` -> ``dict``,
    ``@functools.lru_cache(maxsize=128)`` -> ``functools.lru_cache``), or None
    when the line is not a signature."""
    match = _SIGNATURE.match(line.strip())
    if match is None:
        return None
    name = match.group(1).strip(".")
    return name or None


def sentences(text: str) -> list[str]:
    """Prose sentences of a chunk: code lines and short fragments dropped."""
    out = []
    for paragraph in text.split("\n"):
        paragraph = paragraph.strip()
        if not paragraph or paragraph.startswith((">>>", "...", "$", "#")):
            continue
        for sentence in _SENTENCE_END.split(paragraph):
            sentence = sentence.strip()
            if sentence.startswith(_BOILERPLATE):
                continue
            if len(sentence.split()) >= _MIN_QUERY_WORDS and len(sentence) <= _MAX_QUERY_CHARS:
                out.append(sentence)
    return out


def _qualified(path: Sequence[str]) -> str | None:
    """The entry's dotted name from the signatures at the end of its heading path."""
    name = signature_name(path[-1])
    if name is None:
        return None
    if "." not in name and len(path) > 1:
        parent = signature_name(path[-2])
        if parent is not None and path[-2].lstrip().startswith(("class ", "exception ")):
            return f"{parent.split('.')[-1]}.{name}"
    return name


def is_api_signature(line: str) -> bool:
    """An entry's signature, not a section title: it defines a name and has a
    parameter list, a dotted name or a kind prefix (``class``, ``data`` ...);
    ``Introduction`` is a title."""
    name = signature_name(line)
    if name is None:
        return False
    stripped = line.strip()
    return "(" in stripped or "." in name or not stripped.startswith(name)


def _is_entry_start(row: ChunkRow, path: Sequence[str]) -> bool:
    """An API entry's first chunk starts with its signature line."""
    first_line = row.text.lstrip().split("\n", 1)[0].strip()
    return bool(path) and first_line == path[-1].strip() and is_api_signature(first_line)


def pairs_from_chunks(
    rows: Iterable[ChunkRow], *, sentence_share: float = 0.25, seed: int = 0
) -> list[QueryPair]:
    """All training pairs for these chunks (see the module docstring).

    Args:
        rows: the index's chunks, in document order.
        sentence_share: the fraction of prose chunks that give a ``sentence``
            pair (all of them would drown the structured pairs).
        seed: makes the sample repeatable.
    """
    rng = random.Random(seed)
    pairs: list[QueryPair] = []
    seen_sections: set[str] = set()
    for row in rows:
        path = tuple(p for p in row.heading.split(HEADING_SEPARATOR) if p) if row.heading else ()
        group = f"{row.document}\x1f{row.heading}"
        first_of_section = group not in seen_sections
        seen_sections.add(group)
        if path and first_of_section and _is_entry_start(row, path):
            name = _qualified(path)
            if name is not None and len(name) >= 3:
                template = rng.choice(_NAME_TEMPLATES)
                pairs.append(QueryPair(template.format(name), row.chunk_id, group, "entry-name"))
            body = row.text.lstrip().split("\n", 1)
            described = sentences(body[1]) if len(body) > 1 else []
            if described:
                pairs.append(QueryPair(described[0], row.chunk_id, group, "entry-description"))
            continue
        if path and first_of_section and len(path[-1].split()) >= 3:
            pairs.append(QueryPair(path[-1], row.chunk_id, group, "heading"))
        elif rng.random() < sentence_share:
            prose = sentences(row.text)
            if prose:
                pairs.append(QueryPair(rng.choice(prose), row.chunk_id, group, "sentence"))
    return pairs


def split_pairs(
    pairs: Sequence[QueryPair], heldout_share: float, seed: int = 0
) -> tuple[list[QueryPair], list[QueryPair]]:
    """Training and held-out pairs, split by section so a held-out query's
    section was never trained on."""
    rng = random.Random(seed)
    groups = sorted({p.group for p in pairs})
    held = {g for g in groups if rng.random() < heldout_share}
    train = [p for p in pairs if p.group not in held]
    heldout = [p for p in pairs if p.group in held]
    return train, heldout
