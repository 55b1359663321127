"""Turning heading positions into nested-heading sections (Markdown, reST).

Shared so both formats build heading paths the same way: a heading of level
``n`` closes every open heading of level ``>= n``.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.knowledge.parsers.base import span_section
from backend.knowledge.records import Section


@dataclass(frozen=True)
class Heading:
    start: int  # offset of the heading's first line in the text
    level: int  # 1 = outermost
    title: str


def sections_from_headings(text: str, headings: list[Heading]) -> list[Section]:
    """A section from each heading up to the next one; text before the first
    heading is a section with an empty heading path."""
    sections: list[Section] = []
    first = headings[0].start if headings else len(text)
    preamble = span_section(text, 0, first)
    if preamble:
        sections.append(preamble)
    stack: list[tuple[int, str]] = []
    for i, heading in enumerate(headings):
        while stack and stack[-1][0] >= heading.level:
            stack.pop()
        stack.append((heading.level, heading.title))
        end = headings[i + 1].start if i + 1 < len(headings) else len(text)
        path = tuple(title for _, title in stack if title)
        section = span_section(text, heading.start, end, path)
        if section:
            sections.append(section)
    return sections
