"""CSV/TSV: each row rendered as ``column: value`` lines, one section per row.

Repeating the header on every row makes a row understandable on its own,
which is what a retrieved chunk has to be; the chunker merges neighbouring
rows into chunks up to the token limit.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from backend.knowledge.parsers.base import DocumentBuilder, ParseError, Parser
from backend.knowledge.parsers.sniff import decode_text
from backend.knowledge.records import ParsedDocument


class CsvParser(Parser):
    name = "csv"
    extensions = (".csv", ".tsv")

    def parse(self, path: Path, data: bytes) -> ParsedDocument:
        text = decode_text(data)
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], ",;\t|")
        except csv.Error:
            dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
        try:
            rows = list(csv.reader(io.StringIO(text), dialect))
        except csv.Error as exc:
            raise ParseError(f"malformed CSV ({exc})") from exc
        rows = [r for r in rows if any(cell.strip() for cell in r)]
        builder = DocumentBuilder()
        if not rows:
            return builder.build(self.name)
        header = [h.strip() or f"column {i + 1}" for i, h in enumerate(rows[0])]
        for row in rows[1:]:
            lines = []
            for i, value in enumerate(row):
                column = header[i] if i < len(header) else f"column {i + 1}"
                lines.append(f"{column}: {value.strip()}")
            builder.add("\n".join(lines))
        if len(rows) == 1:
            builder.add(", ".join(header))
        return builder.build(self.name)
