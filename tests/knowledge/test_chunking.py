"""Chunker: model-true token limits, valid offsets, structure kept, determinism."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from backend.knowledge.chunking import Chunker
from backend.knowledge.parsers import DocumentBuilder, parse_file
from backend.knowledge.records import Chunk, ParsedDocument

PY_DOCS = Path("/usr/share/doc/python3.11/html")


@pytest.fixture(scope="module")
def chunker() -> Chunker:
    return Chunker(max_tokens=256, overlap_tokens=32)


def doc_of(*sections: tuple[str, tuple[str, ...]]) -> ParsedDocument:
    builder = DocumentBuilder()
    for text, path in sections:
        builder.add(text, path)
    return builder.build("text")


def check(chunker: Chunker, doc: ParsedDocument, chunks: list[Chunk]) -> None:
    counts = chunker.count([c.text for c in chunks])
    for chunk, count in zip(chunks, counts, strict=True):
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.text.strip()
        assert chunk.tokens == count <= chunker.max_tokens
        # A chunk lies inside one section: never across heading paths.
        owners = [s for s in doc.sections if s.start <= chunk.start and chunk.end <= s.end]
        spanning = [s for s in doc.sections if s.start < chunk.end and chunk.start < s.end]
        assert owners or all(s.heading_path == chunk.heading_path for s in spanning)


def test_limit_counts_special_tokens_and_ignores_shipped_truncation(chunker: Chunker) -> None:
    assert chunker.max_tokens == 256 and chunker.budget == 254
    assert chunker.count(["word " * 300]) == [302]  # tokenizer.json truncates at 128


def test_long_section_split_at_paragraphs_with_valid_offsets(chunker: Chunker) -> None:
    paragraphs = [
        f"Paragraph {i}. " + "This sentence has some words in it. " * 12 for i in range(20)
    ]
    doc = doc_of(("\n\n".join(paragraphs), ("Long",)))
    chunks = chunker.chunk(doc)
    check(chunker, doc, chunks)
    assert len(chunks) > 3
    assert all(c.heading_path == ("Long",) for c in chunks)
    # Paragraph-sized pieces fit, so every chunk starts at a paragraph or overlaps one.
    assert chunks[0].text.startswith("Paragraph 0.")
    assert chunks[0].text.endswith(".")


def test_giant_sentence_and_giant_word_are_split(chunker: Chunker) -> None:
    doc = doc_of(
        (" ".join(f"word{i}" for i in range(3000)), ("A",)),
        ("x" * 20000, ("B",)),
        ("unbelievably" * 2000, ("C",)),
    )
    chunks = chunker.chunk(doc)
    check(chunker, doc, chunks)
    assert {c.heading_path for c in chunks} == {("A",), ("B",), ("C",)}
    covered_end = max(c.end for c in chunks if c.heading_path == ("C",))
    assert covered_end == len(doc.text)


def test_small_sections_merge_only_under_same_heading(chunker: Chunker) -> None:
    doc = doc_of(
        ("Row one.", ("T",)),
        ("Row two.", ("T",)),
        ("Other heading.", ("U",)),
        ("Row three.", ("T",)),
    )
    chunks = chunker.chunk(doc)
    check(chunker, doc, chunks)
    assert [(c.text, c.heading_path) for c in chunks] == [
        ("Row one.\n\nRow two.", ("T",)),
        ("Other heading.", ("U",)),
        ("Row three.", ("T",)),
    ]


def test_pages_are_kept_and_not_merged(chunker: Chunker) -> None:
    builder = DocumentBuilder()
    builder.add("Page one.", (), 1)
    builder.add("Page two.", (), 2)
    chunks = chunker.chunk(builder.build("pdf"))
    assert [(c.text, c.page) for c in chunks] == [("Page one.", 1), ("Page two.", 2)]


def test_overlap_between_split_pieces(chunker: Chunker) -> None:
    text = " ".join(f"token{i}" for i in range(2000))
    doc = doc_of((text, ()))
    chunks = chunker.chunk(doc)
    check(chunker, doc, chunks)
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end  # repeated context
        assert b.start > a.start


def test_deterministic_and_empty(chunker: Chunker) -> None:
    doc = doc_of(("Alpha. " * 500, ("X",)), ("Beta.", ("Y",)))
    assert chunker.chunk(doc) == chunker.chunk(doc)
    assert chunker.chunk(ParsedDocument("")) == []


def test_small_max_tokens(tmp_path: Path) -> None:
    small = Chunker(max_tokens=32, overlap_tokens=8)
    path = tmp_path / "n.md"
    path.write_text("# H\n\n" + "Some prose, with commas; and more prose. " * 50)
    doc = parse_file(path)
    chunks = small.chunk(doc)
    check(small, doc, chunks)
    assert all(c.tokens <= 32 for c in chunks)


def test_python_docs_pages_chunk_within_limits(chunker: Chunker) -> None:
    for name in ("json.html", "stdtypes.html", "functions.html"):
        doc = parse_file(PY_DOCS / "library" / name)
        chunks = chunker.chunk(doc)
        check(chunker, doc, chunks)
        if name == "stdtypes.html":
            assert any(
                c.heading_path and c.heading_path[-1].startswith("str.split(") for c in chunks
            )
