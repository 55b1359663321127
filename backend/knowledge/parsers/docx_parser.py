"""DOCX via python-docx: paragraphs and tables in body order, sectioned by
``Heading N`` / ``Title`` styles so headings become heading paths."""

from __future__ import annotations

import io
import re
from pathlib import Path

from docx import Document
from docx.table import Table
from docx.text.paragraph import Paragraph

from backend.knowledge.parsers.base import DocumentBuilder, ParseError, Parser
from backend.knowledge.records import ParsedDocument

_HEADING_STYLE = re.compile(r"^Heading (\d)$")


class DocxParser(Parser):
    name = "docx"
    extensions = (".docx",)
    binary = True

    def parse(self, path: Path, data: bytes) -> ParsedDocument:
        try:
            document = Document(io.BytesIO(data))
            blocks = list(document.iter_inner_content())
        except Exception as exc:
            raise ParseError(
                f"corrupt or unreadable DOCX ({str(exc) or type(exc).__name__})"
            ) from exc
        builder = DocumentBuilder()
        stack: list[tuple[int, str]] = []
        lines: list[str] = []
        title: str | None = None

        def flush() -> None:
            builder.add("\n".join(lines), tuple(t for _, t in stack))
            lines.clear()

        for block in blocks:
            if isinstance(block, Table):
                for row in block.rows:
                    lines.append(" | ".join(cell.text.strip() for cell in row.cells))
                continue
            if not isinstance(block, Paragraph):
                continue
            text = block.text.strip()
            level = _heading_level(block)
            if level is None or not text:
                if text:
                    lines.append(text)
                continue
            flush()
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, text))
            lines.append(text)
            if title is None and level <= 1:
                title = text
        flush()
        core_title = (document.core_properties.title or "").strip()
        return builder.build(self.name, core_title or title)


def _heading_level(paragraph: Paragraph) -> int | None:
    style = paragraph.style.name if paragraph.style is not None else ""
    if style == "Title":
        return 0
    match = _HEADING_STYLE.match(style or "")
    return int(match.group(1)) if match else None
