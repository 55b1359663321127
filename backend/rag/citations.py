"""Mapping an answer's ``[Sn]`` markers back to the sources it was given.

What counts as a citation (decided here, tested in tests/rag/test_citations):

- ``[S1]``, ``[s1]``, ``[S 1]``, ``[S1, S3]``, ``[S1; S3]``, ``[S1 and S3]``,
  ``[S1][S2]``, ``(S1)``, ``(S1, S2)``, ``[Source 2]``, and a range
  ``[S1-S3]`` / ``[S1–3]`` (expanded; ranges wider than ``MAX_RANGE`` are
  taken as their two ends only, not as a licence to cite everything).
- A bare ``[1]`` / ``[1, 2]`` is accepted only when the answer uses no
  ``S`` marker at all (small models often fall back to Wikipedia-style
  numbers), only when it is not an index (``a[1]``, ``x)[2]``, ``[0][1]``),
  and only for numbers that exist: a bare ``[2023]`` is far more likely a
  year or a footnote than a citation, so out-of-range bare numbers are
  ignored rather than reported as unknown.
- Anything inside code (fenced blocks and inline back-tick spans) is
  ignored: ``lst[1]`` or a literal ``"[S1]"`` in code is not a citation.

An ``S`` number outside 1..n is returned as ``unknown`` (the model cited a
source it was never given; the UI can say so).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from backend.common.events import SourceRef

MAX_RANGE = 10

_FENCED = re.compile(r"(?ms)^[ \t]*(`{3,}|~{3,}).*?(?:^[ \t]*\1[ \t]*$|\Z)")
_INLINE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
_S_ITEM = r"(?:s|source)\s*\d+(?:\s*[-\u2013]\s*(?:s|source)?\s*\d+)?"
_S_GROUP = re.compile(
    rf"[\[(]\s*({_S_ITEM}(?:\s*(?:,|;|&|and)\s*{_S_ITEM})*)\s*[\])]", re.IGNORECASE
)
_S_PART = re.compile(
    r"(?:s|source)\s*(\d+)(?:\s*[-\u2013]\s*(?:s|source)?\s*(\d+))?", re.IGNORECASE
)
_BARE_GROUP = re.compile(r"(?<![\w\])\[])\[\s*(\d{1,3}(?:\s*,\s*\d{1,3})*)\s*\](?!\s*[(:=])")


def strip_code(text: str) -> str:
    """``text`` with fenced code blocks and inline code spans blanked out."""
    text = _FENCED.sub(" ", text)
    return _INLINE.sub(" ", text)


def _expand(first: int, last: int | None) -> list[int]:
    if last is None:
        return [first]
    if first <= last and last - first < MAX_RANGE:
        return list(range(first, last + 1))
    return [first, last]


def parse_citations(answer: str, n_sources: int) -> tuple[list[int], list[int]]:
    """``(cited, unknown)``: source numbers the answer cites (1..n_sources)
    in order of first mention, and the ``S`` numbers it cites that were
    never given, also in order of first mention.

    Raises:
        ValueError: ``n_sources`` is negative.
        TypeError: ``answer`` is not text.
    """
    if not isinstance(answer, str):
        raise TypeError(f"the answer must be text, not {type(answer).__name__}")
    if n_sources < 0:
        raise ValueError(f"n_sources must be >= 0, not {n_sources}")
    prose = strip_code(answer)
    numbers: list[int] = []
    for group in _S_GROUP.finditer(prose):
        for part in _S_PART.finditer(group.group(1)):
            last = int(part.group(2)) if part.group(2) else None
            numbers += _expand(int(part.group(1)), last)
    strict = True
    if not numbers:
        strict = False
        for group in _BARE_GROUP.finditer(prose):
            numbers += [int(x) for x in re.findall(r"\d+", group.group(1))]
    cited = _unique(n for n in numbers if 1 <= n <= n_sources)
    unknown = _unique(n for n in numbers if not 1 <= n <= n_sources) if strict else []
    return cited, unknown


def _unique(numbers: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(numbers))


def mark_cited(
    sources: Sequence[SourceRef], cited: Iterable[int], matched: Iterable[int] = ()
) -> list[SourceRef]:
    """``sources`` in their ``[Sn]`` order with ``cited`` set from the
    answer's citations and ``matched`` from ``backend.rag.attribution``
    (retrieved-but-uncited ones stay, both False, so the UI can list them
    separately)."""
    chosen, restated = set(cited), set(matched)
    return [
        replace(s, cited=s.n in chosen, matched=s.n not in chosen and s.n in restated)
        for s in sources
    ]
