"""Sources an uncited answer restates (``backend.rag.attribution``)."""

from __future__ import annotations

from backend.common.events import SourceRef
from backend.rag.attribution import MAX_MATCHED, matched_sources


def _source(n: int, text: str, heading: str = "") -> SourceRef:
    return SourceRef(n, n, f"/d/{n}.md", heading, None, 0, len(text), text)


SOURCES = [
    _source(1, "Sourdough bread needs a starter fed with flour and water every day."),
    _source(2, "The lighthouse keeper's cat is named Biscuit and sleeps by the lamp."),
    _source(3, "Tomatoes need deep watering twice a week in summer.", "Garden > Tomatoes"),
]


def test_a_restated_passage_is_matched() -> None:
    answer = "The keeper's cat is called Biscuit; it sleeps next to the lamp."
    assert matched_sources(answer, SOURCES) == [2]
    # The heading counts as part of the passage.
    assert matched_sources("Water tomatoes deeply twice each week.", SOURCES) == [3]


def test_paraphrase_short_sentences_and_code_are_not_evidence() -> None:
    assert matched_sources("A feline named after a cookie naps near the light.", SOURCES) == []
    assert matched_sources("Biscuit.", SOURCES) == []
    code = "```python\nstarter = feed(flour, water)  # sourdough bread every day\n```"
    assert matched_sources(code, SOURCES) == []
    assert matched_sources("", SOURCES) == [] and matched_sources("x y z w", []) == []


def test_best_matches_first_and_capped() -> None:
    many = [_source(n, f"Cats sleep sixteen hours daily in warm places number{n}.") for n in (1, 2)]
    many += [_source(3, "Cats sleep sixteen hours daily in warm places number3 exactly.")]
    many += [_source(4, "Cats sleep sixteen hours daily in warm places number4.")]
    answer = "Cats sleep sixteen hours daily in warm places number3."
    got = matched_sources(answer, many)
    assert got[0] == 3 and len(got) == MAX_MATCHED
