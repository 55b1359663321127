"""Citation parsing: which ``[Sn]`` forms count, order of first mention,
unknown numbers, code spans, and marking the cited sources."""

from __future__ import annotations

import pytest

from backend.common.events import SourceRef
from backend.rag.citations import mark_cited, parse_citations, strip_code


@pytest.mark.parametrize(
    ("answer", "cited", "unknown"),
    [
        ("Paris is the capital [S1].", [1], []),
        ("It is 330 m tall [s2] and made of iron [S1].", [2, 1], []),
        ("Both say so [S1, S3].", [1, 3], []),
        ("Both say so [S1,S3] and [S3; S2].", [1, 3, 2], []),
        ("Adjacent [S2][S1] markers.", [2, 1], []),
        ("Parenthesised (S3) and (S1, S2).", [3, 1, 2], []),
        ("Spelled out [Source 2] and [source 1].", [2, 1], []),
        ("With a space [S 2].", [2], []),
        ("A range [S1-S3].", [1, 2, 3], []),
        ("A short range [S2–3].", [2, 3], []),
        ("Joined [S1 and S2].", [1, 2], []),
        ("Repeated [S2] ... again [S2] then [S1].", [2, 1], []),
        ("Made up [S7] and real [S1].", [1], [7]),
        ("Zero is never a source [S0].", [], [0]),
        ("No citations at all.", [], []),
        ("", [], []),
    ],
)
def test_s_markers(answer: str, cited: list[int], unknown: list[int]) -> None:
    assert parse_citations(answer, 3) == (cited, unknown)


def test_a_wide_range_is_taken_as_its_ends_not_everything() -> None:
    assert parse_citations("All of them [S1-S40].", 50) == ([1, 40], [])


@pytest.mark.parametrize(
    ("answer", "cited"),
    [
        ("Wikipedia style [1] and [2, 3].", [1, 2, 3]),
        ("An index is not a citation: a[1] or f(x)[2] or m[0][1].", []),
        ("A year in brackets [2023] is ignored, a real one [2] is not.", [2]),
        ("A markdown link [1](http://x) or a label [1]: http://x is not a citation.", []),
    ],
)
def test_bare_numbers_only_without_s_markers(answer: str, cited: list[int]) -> None:
    assert parse_citations(answer, 3) == (cited, [])


def test_bare_numbers_are_ignored_once_s_markers_are_used() -> None:
    assert parse_citations("Uses S style [S2]; the list item [1] is not one.", 3) == ([2], [])


def test_code_is_not_cited() -> None:
    answer = (
        'Index with `lst[1]` or `"[S3]"` as shown [S1]:\n'
        "```python\nx = refs['[S2]']\nprint(a[1])\n```\n"
        "and\n~~~\n[S3]\n~~~\ndone [S2]."
    )
    assert parse_citations(answer, 3) == ([1, 2], [])
    assert "[S2]'" not in strip_code(answer)


def test_an_unclosed_fence_hides_the_rest() -> None:
    assert parse_citations("See [S1].\n```\nstill code [S2]", 2) == ([1], [])


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="n_sources"):
        parse_citations("[S1]", -1)
    with pytest.raises(TypeError, match="text"):
        parse_citations(None, 1)  # type: ignore[arg-type]


def test_without_sources_everything_is_unknown() -> None:
    assert parse_citations("Claims [S1] and [2].", 0) == ([], [1])


def _src(n: int) -> SourceRef:
    return SourceRef(
        n=n, chunk_id=10 + n, path=f"/d/{n}.md", heading="", page=None, start=0, end=5, text="x"
    )


def test_mark_cited_keeps_every_source_in_order() -> None:
    sources = [_src(1), _src(2), _src(3)]
    marked = mark_cited(sources, [3, 1])
    assert [s.n for s in marked] == [1, 2, 3]
    assert [s.cited for s in marked] == [True, False, True]
    assert [s.chunk_id for s in marked] == [11, 12, 13]
    assert not any(s.cited for s in mark_cited(marked, []))  # recomputed, not accumulated
