"""Markdown: sections by ATX (``# Title``) and setext (underlined) headings.

The extracted text is the file itself, so offsets are also file offsets.
Lines inside fenced code blocks are never headings (``# comment`` in a shell
snippet must not start a section).
"""

from __future__ import annotations

import re
from pathlib import Path

from backend.knowledge.parsers.base import Parser
from backend.knowledge.parsers.headings import Heading, sections_from_headings
from backend.knowledge.parsers.sniff import decode_text
from backend.knowledge.records import ParsedDocument

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_ATX_EMPTY = re.compile(r"^ {0,3}(#{1,6})[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def markdown_headings(text: str) -> list[Heading]:
    lines = text.split("\n")
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    headings: list[Heading] = []
    fence: str | None = None
    for i, line in enumerate(lines):
        fence_match = _FENCE.match(line)
        if fence_match:
            marker = fence_match.group(1)
            if fence is None:
                fence = marker[0] * 3
            elif marker.startswith(fence):
                fence = None
            continue
        if fence is not None:
            continue
        atx = _ATX.match(line) or _ATX_EMPTY.match(line)
        if atx:
            title = atx.group(2).strip() if atx.lastindex and atx.lastindex >= 2 else ""
            headings.append(Heading(offsets[i], len(atx.group(1)), title))
            continue
        setext = _SETEXT.match(line)
        if setext and i > 0 and lines[i - 1].strip() and not _FENCE.match(lines[i - 1]):
            prev = lines[i - 1]
            if headings and headings[-1].start == offsets[i - 1]:
                continue
            if prev.lstrip().startswith(("-", "*", "+", ">")) or _ATX.match(prev):
                continue
            level = 1 if setext.group(1)[0] == "=" else 2
            headings.append(Heading(offsets[i - 1], level, prev.strip()))
    return headings


class MarkdownParser(Parser):
    name = "markdown"
    extensions = (".md", ".markdown", ".mdown", ".mkd")

    def parse(self, path: Path, data: bytes) -> ParsedDocument:
        text = decode_text(data)
        headings = markdown_headings(text)
        title = next((h.title for h in headings if h.level == 1), None)
        return ParsedDocument(text, sections_from_headings(text, headings), self.name, title)
