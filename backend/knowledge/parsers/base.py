"""The parser interface and the helper every parser uses to keep offsets right.

Parsers turn one file's bytes into a ``ParsedDocument``: the extracted text plus
sections whose ``start``/``end`` point into that text. Building the text and the
sections together in ``DocumentBuilder`` is what guarantees
``doc.text[s.start:s.end] == s.text`` for every format, so citations can always
be mapped back to the extracted text.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from backend.knowledge.records import ParsedDocument, Section


class ParseError(Exception):
    """A file could not be parsed; the message is shown to the user as-is.

    The indexer records it on the document and goes on with the next file, so
    the message should say what is wrong with the file, not where in our code.
    """


class Parser(ABC):
    """One document format.

    ``binary`` parsers (PDF, DOCX) receive container bytes and skip the
    text sniffing that ``parse_file`` applies to every other format.
    """

    name: ClassVar[str] = "text"
    extensions: ClassVar[tuple[str, ...]] = ()
    binary: ClassVar[bool] = False

    @abstractmethod
    def parse(self, path: Path, data: bytes) -> ParsedDocument:
        """Extract text and sections, or raise ``ParseError``."""


class DocumentBuilder:
    """Accumulates sections into one text, recording exact offsets.

    Sections are separated by a blank line so paragraph-aware chunking sees a
    boundary between them; whitespace-only sections are dropped.
    """

    SEPARATOR = "\n\n"

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self.sections: list[Section] = []

    def add(self, text: str, heading_path: tuple[str, ...] = (), page: int | None = None) -> None:
        text = text.strip()
        if not text:
            return
        if self._parts:
            self._parts.append(self.SEPARATOR)
            self._length += len(self.SEPARATOR)
        start = self._length
        self._parts.append(text)
        self._length += len(text)
        self.sections.append(Section(text, heading_path, page, start, self._length))

    def build(self, kind: str, title: str | None = None) -> ParsedDocument:
        return ParsedDocument("".join(self._parts), self.sections, kind, title)


def span_section(
    text: str, start: int, end: int, heading_path: tuple[str, ...] = ()
) -> Section | None:
    """A section for ``text[start:end]`` with surrounding whitespace trimmed.

    Used by formats whose extracted text is the decoded file itself (text,
    Markdown, reST, code), so offsets also match the file's characters.
    """
    chunk = text[start:end]
    stripped_left = len(chunk) - len(chunk.lstrip())
    stripped = chunk.strip()
    if not stripped:
        return None
    s = start + stripped_left
    return Section(stripped, heading_path, None, s, s + len(stripped))
