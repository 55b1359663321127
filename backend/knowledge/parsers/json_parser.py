"""JSON: flattened to ``a.b[0].c: value`` lines, one section per top-level key.

Flattened paths keep each value's context inside a small chunk (a bare
``"enabled": true`` deep in a pretty-printed file says nothing on its own).
A file that is not valid JSON is indexed as plain text rather than lost.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backend.knowledge.parsers.base import DocumentBuilder, Parser
from backend.knowledge.parsers.sniff import decode_text
from backend.knowledge.parsers.text_parser import whole_text_document
from backend.knowledge.records import ParsedDocument


def flatten(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, dict) and value:
        lines: list[str] = []
        for key, item in value.items():
            lines.extend(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return lines
    if isinstance(value, list) and value:
        lines = []
        for i, item in enumerate(value):
            lines.extend(flatten(item, f"{prefix}[{i}]"))
        return lines
    rendered = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return [f"{prefix}: {rendered}" if prefix else str(rendered)]


class JsonParser(Parser):
    name = "json"
    extensions = (".json", ".geojson")

    def parse(self, path: Path, data: bytes) -> ParsedDocument:
        text = decode_text(data)
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return whole_text_document(text, "text")
        builder = DocumentBuilder()
        if isinstance(value, dict):
            for key, item in value.items():
                builder.add("\n".join(flatten(item, str(key))), (str(key),))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                builder.add("\n".join(flatten(item, f"[{i}]")), (f"[{i}]",))
        else:
            builder.add("\n".join(flatten(value)))
        return builder.build(self.name)
