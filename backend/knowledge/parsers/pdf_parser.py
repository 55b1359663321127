"""PDF via pypdf: one section per page, so citations can name the page.

pypdf raises many exception types on damaged files; every failure becomes a
``ParseError`` so one bad PDF is recorded and skipped, never stops a job.
"""

from __future__ import annotations

import io
from pathlib import Path

from pypdf import PdfReader

from backend.knowledge.parsers.base import DocumentBuilder, ParseError, Parser
from backend.knowledge.records import ParsedDocument

ENCRYPTED = "encrypted PDF (password protected)"


class PdfParser(Parser):
    name = "pdf"
    extensions = (".pdf",)
    binary = True

    def parse(self, path: Path, data: bytes) -> ParsedDocument:
        try:
            reader = PdfReader(io.BytesIO(data))
        except Exception as exc:
            raise ParseError(f"corrupt or unreadable PDF ({_reason(exc)})") from exc
        if reader.is_encrypted:
            # Owner-password-only PDFs open with an empty user password.
            try:
                opened = reader.decrypt("")
            except Exception as exc:
                raise ParseError(ENCRYPTED) from exc
            if not opened:
                raise ParseError(ENCRYPTED)
        builder = DocumentBuilder()
        try:
            for number, page in enumerate(reader.pages, start=1):
                builder.add(page.extract_text() or "", (), number)
            title = _title(reader)
        except Exception as exc:
            raise ParseError(f"corrupt or unreadable PDF ({_reason(exc)})") from exc
        return builder.build(self.name, title)


def _title(reader: PdfReader) -> str | None:
    try:
        meta = reader.metadata
    except Exception:
        return None
    title = meta.title if meta else None
    return str(title).strip() or None if title else None


def _reason(exc: Exception) -> str:
    return str(exc).strip() or type(exc).__name__
