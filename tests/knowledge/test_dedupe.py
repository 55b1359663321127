"""Duplicate detection (``dedupe``): signatures, the source-copy path rule,
which copy is canonical, and the finder's matching."""

from __future__ import annotations

import random

from backend.knowledge.dedupe import (
    NEAR_THRESHOLD,
    Candidate,
    DuplicateFinder,
    preference,
    signature,
    similarity,
    source_page,
)

random.seed(7)
VOCAB = [f"w{i}" for i in range(3000)]


def prose(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(VOCAB) for _ in range(n))


def test_source_copies_map_to_their_page() -> None:
    assert source_page("_sources/library/json.rst.txt") == "library/json.html"
    assert source_page("/d/html/_sources/index.rst.txt") == "/d/html/index.html"
    assert source_page("site/_sources/guide.md") == "site/guide.html"
    assert source_page("library/json.rst.txt") is None  # not under _sources
    assert source_page("_sources/data.csv") is None  # not a source format


def test_canonical_preference() -> None:
    ranked = sorted(["_sources/a.rst.txt", "a.txt", "a.md", "a.pdf", "a.html"], key=preference)
    assert ranked == ["a.html", "a.pdf", "a.md", "a.txt", "_sources/a.rst.txt"]


def test_exact_near_and_different_texts() -> None:
    base = prose(800, 1)
    words = base.split()
    edited = words[:]
    for i in range(0, len(edited), 40):  # 2.5% of the words changed
        edited[i] = "changed"
    a, b = signature(base), signature(" ".join(edited))
    assert a is not None and b is not None
    assert similarity(a, signature(base.upper() + "\n")) == 1.0  # type: ignore[arg-type]
    assert similarity(a, b) >= NEAR_THRESHOLD
    other = signature(prose(800, 2))
    assert other is not None and similarity(a, other) < 0.2
    assert signature("too short to compare") is None


def test_markup_does_not_hide_a_source_copy() -> None:
    rendered = " ".join(
        f"The function dumps{i} serialises obj as a JSON formatted str using the "
        f"conversion table number {i} and returns it to the caller."
        for i in range(60)
    )
    source = "\n".join(
        f".. function:: dumps{i}(obj)\n   :noindex:\n\n   The function :func:`dumps{i}` "
        f"serialises *obj* as a JSON formatted :class:`str` using the conversion "
        f"`table <https://example.org/t{i}>`_ number {i} and returns it to the caller.\n"
        for i in range(60)
    )
    a, b = signature(rendered), signature(source)
    assert a is not None and b is not None
    assert similarity(a, b) >= NEAR_THRESHOLD


def test_template_notes_are_not_duplicates() -> None:
    """Small texts from one template differ by a number: only an exact
    match collapses them."""
    notes = [f"# Note {i}\n\n" + f"Section of note {i}: " + "word " * 60 for i in range(3)]
    sigs = [signature(n) for n in notes]
    finder = DuplicateFinder([Candidate("n0.md", sigs[0], 1)])
    assert finder.match("n1.md", sigs[1]) is None
    assert finder.match("copy.md", signature(notes[0])) is not None


def test_finder_matches_best_and_never_itself() -> None:
    page, other = prose(600, 3), prose(600, 4)
    finder = DuplicateFinder(
        [Candidate("/d/x.html", signature(page), 1), Candidate("/d/y.html", signature(other), 2)]
    )
    found = finder.match("/d/x.md", signature(page))
    assert found is not None and found[0].path == "/d/x.html" and found[1] == 1.0
    assert finder.match("/d/x.html", signature(page)) is None  # itself
    # the path rule needs no similar text (a toctree source vs its rendered index)
    found = finder.match("/d/_sources/y.rst.txt", signature(prose(100, 9)))
    assert found is not None and found[0].path == "/d/y.html"
    finder.remove("/d/x.html")
    assert finder.match("/d/x.md", signature(page)) is None
