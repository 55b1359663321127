"""Source code: kept verbatim; Python gets a section per top-level def/class.

A section per definition means a search hit can cite ``def parse_file`` rather
than "somewhere in this 2,000-line file". Other languages are plain text: the
chunker's paragraph splitting already follows their blank-line structure.
"""

from __future__ import annotations

import ast
from pathlib import Path

from backend.knowledge.parsers.base import Parser, span_section
from backend.knowledge.parsers.sniff import decode_text
from backend.knowledge.parsers.text_parser import whole_text_document
from backend.knowledge.records import ParsedDocument, Section

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class CodeParser(Parser):
    name = "code"
    extensions = (
        ".py", ".pyi", ".js", ".mjs", ".jsx", ".ts", ".tsx", ".go", ".rs", ".java",
        ".kt", ".c", ".h", ".cpp", ".cc", ".hpp", ".cs", ".sh", ".bash", ".rb",
        ".php", ".swift", ".scala", ".lua", ".pl", ".r", ".sql", ".css", ".scss",
    )  # fmt: skip

    def parse(self, path: Path, data: bytes) -> ParsedDocument:
        text = decode_text(data)
        if path.suffix.lower() in (".py", ".pyi"):
            sections = python_sections(text)
            if sections is not None:
                return ParsedDocument(text, sections, self.name)
        return whole_text_document(text, self.name)


def python_sections(text: str) -> list[Section] | None:
    """Sections split before each top-level def/class; None if not parseable."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    line_starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            line_starts.append(i + 1)
    cuts: list[tuple[int, tuple[str, ...]]] = [(0, ())]
    for node in tree.body:
        if isinstance(node, _DEFS):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            kind = "class" if isinstance(node, ast.ClassDef) else "def"
            cuts.append((line_starts[first - 1], (f"{kind} {node.name}",)))
    sections = []
    for i, (start, heading) in enumerate(cuts):
        end = cuts[i + 1][0] if i + 1 < len(cuts) else len(text)
        section = span_section(text, start, end, heading)
        if section:
            sections.append(section)
    return sections
