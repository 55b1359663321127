"""Document parsers: one module per format, chosen by extension and content.

``parse_file`` is the one entry point the indexer needs: it reads the file,
refuses what is not a document (binary, empty, too large, unreadable) with a
clear ``ParseError`` message, and dispatches to the right ``Parser``.
"""

from __future__ import annotations

from pathlib import Path

from backend.knowledge.parsers.base import DocumentBuilder, ParseError, Parser
from backend.knowledge.parsers.code_parser import CodeParser
from backend.knowledge.parsers.csv_parser import CsvParser
from backend.knowledge.parsers.docx_parser import DocxParser
from backend.knowledge.parsers.html_parser import HtmlParser
from backend.knowledge.parsers.json_parser import JsonParser
from backend.knowledge.parsers.markdown_parser import MarkdownParser
from backend.knowledge.parsers.pdf_parser import PdfParser
from backend.knowledge.parsers.reading import read_file_bytes
from backend.knowledge.parsers.rst_parser import RstParser
from backend.knowledge.parsers.sniff import looks_binary
from backend.knowledge.parsers.text_parser import TextParser
from backend.knowledge.records import ParsedDocument

__all__ = [
    "PARSERS",
    "DocumentBuilder",
    "ParseError",
    "Parser",
    "parse_file",
    "parser_for",
    "supported_extensions",
]

PARSERS: tuple[Parser, ...] = (
    TextParser(),
    MarkdownParser(),
    RstParser(),
    HtmlParser(),
    PdfParser(),
    DocxParser(),
    CodeParser(),
    CsvParser(),
    JsonParser(),
)
_BY_EXTENSION = {ext: parser for parser in PARSERS for ext in parser.extensions}
_TEXT = PARSERS[0]
_PDF = next(p for p in PARSERS if isinstance(p, PdfParser))
_HTML = next(p for p in PARSERS if isinstance(p, HtmlParser))
DEFAULT_MAX_BYTES = 20_000_000


def supported_extensions() -> frozenset[str]:
    """Extensions with a dedicated parser (lower case, with the dot)."""
    return frozenset(_BY_EXTENSION)


def parser_for(path: Path, data: bytes) -> Parser:
    """The parser for this file: content signatures beat the extension."""
    if data.startswith(b"%PDF-"):
        return _PDF
    parser = _BY_EXTENSION.get(path.suffix.lower())
    if parser is not None:
        return parser
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return _HTML
    return _TEXT


def parse_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedDocument:
    """Read and parse one file; every failure is a ``ParseError`` with a reason."""
    path = Path(path)
    data = read_file_bytes(path, max_bytes)
    parser = parser_for(path, data)
    if not parser.binary and looks_binary(data):
        raise ParseError("binary file, not text")
    try:
        return parser.parse(path, data)
    except ParseError:
        raise
    except RecursionError as exc:
        raise ParseError(f"{parser.name} file is too deeply nested to parse") from exc
