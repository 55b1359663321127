"""Plain records shared by the parsers, the chunker, the index and search."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    """A run of a document's extracted text under one heading path.

    ``start``/``end`` are character offsets into ``ParsedDocument.text``;
    ``page`` is 1-based for paged formats (PDF), else None.
    """

    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class ParsedDocument:
    """What a parser extracted: the whole text and its sections in order."""

    text: str
    sections: list[Section] = field(default_factory=list)
    kind: str = "text"
    title: str | None = None


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough for the embedding model.

    ``tokens`` is its length in the embedding model's tokens (never above the
    model's maximum sequence length); offsets point into the document text.
    """

    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    start: int = 0
    end: int = 0
    tokens: int = 0


@dataclass(frozen=True)
class SearchHit:
    chunk_id: int
    path: str
    heading: str
    page: int | None
    score: float
    text: str
    start: int = 0
    end: int = 0
