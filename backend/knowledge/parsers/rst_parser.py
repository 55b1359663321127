"""reStructuredText: headings are lines underlined (optionally overlined too)
with a repeated punctuation character.

As in docutils, levels are not fixed per character: the first adornment style
seen is level 1, the next new one level 2, and so on.
"""

from __future__ import annotations

import re
from pathlib import Path

from backend.knowledge.parsers.base import Parser
from backend.knowledge.parsers.headings import Heading, sections_from_headings
from backend.knowledge.parsers.sniff import decode_text
from backend.knowledge.records import ParsedDocument

_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}[ \t]*$")


def rst_headings(text: str) -> list[Heading]:
    lines = text.split("\n")
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    styles: list[tuple[str, bool]] = []
    headings: list[Heading] = []
    i = 0
    while i < len(lines) - 1:
        title, under = lines[i], lines[i + 1]
        match = _ADORNMENT.match(under)
        if (
            match
            and title.strip()
            and not _ADORNMENT.match(title)
            and len(under.rstrip()) >= len(title.strip())
            and (not title[0].isspace() or _is_overline(lines, i, match.group(1)))
        ):
            overline = _is_overline(lines, i, match.group(1))
            style = (match.group(1), overline)
            if style not in styles:
                styles.append(style)
            start = offsets[i - 1] if overline else offsets[i]
            headings.append(Heading(start, styles.index(style) + 1, title.strip()))
            i += 2
            continue
        i += 1
    return headings


def _is_overline(lines: list[str], i: int, char: str) -> bool:
    if i == 0:
        return False
    match = _ADORNMENT.match(lines[i - 1])
    return bool(match and match.group(1) == char)


class RstParser(Parser):
    name = "rst"
    extensions = (".rst", ".rest")

    def parse(self, path: Path, data: bytes) -> ParsedDocument:
        text = decode_text(data)
        headings = rst_headings(text)
        title = headings[0].title if headings else None
        return ParsedDocument(text, sections_from_headings(text, headings), self.name, title)
