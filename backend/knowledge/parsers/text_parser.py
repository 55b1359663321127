"""Plain text: the decoded file is the document, one section for all of it.

The chunker splits long sections at paragraphs and sentences, so plain text
needs no structure of its own here.
"""

from __future__ import annotations

from pathlib import Path

from backend.knowledge.parsers.base import Parser, span_section
from backend.knowledge.parsers.sniff import decode_text
from backend.knowledge.records import ParsedDocument


def whole_text_document(text: str, kind: str) -> ParsedDocument:
    section = span_section(text, 0, len(text))
    return ParsedDocument(text, [section] if section else [], kind)


class TextParser(Parser):
    name = "text"
    extensions = (".txt", ".text", ".log", ".ini", ".cfg", ".conf", ".toml", ".yaml", ".yml")

    def parse(self, path: Path, data: bytes) -> ParsedDocument:
        return whole_text_document(decode_text(data), self.name)
