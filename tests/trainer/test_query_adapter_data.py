"""Training pairs for the query adapter come from the index's structure."""

from __future__ import annotations

from trainer.query_adapter_data import (
    ChunkRow,
    is_api_signature,
    pairs_from_chunks,
    sentences,
    signature_name,
    split_pairs,
)


def test_signature_names_of_sphinx_entries() -> None:
    assert signature_name("os.path.getmtime(path)") == "os.path.getmtime"
    assert signature_name("class dict(**kwargs)") == "dict"
    assert signature_name("setdefault(key[, default])") == "setdefault"
    assert signature_name("sys.maxsize") == "sys.maxsize"
    assert signature_name("exception ValueError") == "ValueError"
    assert signature_name("@functools.lru_cache(maxsize=128)") == "functools.lru_cache"
    assert signature_name("4.2. for Statements") is None
    assert signature_name("How do I iterate over a sequence in reverse order?") is None


def test_titles_are_not_signatures() -> None:
    assert is_api_signature("divmod(a, b)")
    assert is_api_signature("sys.maxsize")
    assert is_api_signature("class dict(**kwargs)")
    assert not is_api_signature("Introduction")
    assert not is_api_signature("os — Miscellaneous operating system interfaces")


def test_sentences_skip_code_and_fragments() -> None:
    text = (
        ">>> divmod(7, 2)\n(3, 1)\nReturn the pair. It takes two numbers and returns a tuple."
        "\nNew in version 3.4."
    )
    assert sentences(text) == ["It takes two numbers and returns a tuple."]


def _rows() -> list[ChunkRow]:
    built_in = "Built-in Types > Mapping Types — dict > class dict(**kwargs)"
    return [
        ChunkRow(
            1,
            "/d/functions.html",
            "Built-in Functions > divmod(a, b)",
            "divmod(a, b)\nTake two numbers as arguments and return a pair of numbers "
            "consisting of their quotient and remainder.",
        ),
        ChunkRow(
            2,
            "/d/functions.html",
            "Built-in Functions > divmod(a, b)",
            "For floating point numbers the result is (q, a % b), where q is usually "
            "math.floor(a / b).",
        ),
        ChunkRow(
            3,
            "/d/stdtypes.html",
            f"{built_in} > setdefault(key[, default])",
            "setdefault(key[, default])\nIf key is in the dictionary, return its value. "
            "If not, insert key with a value of default.",
        ),
        ChunkRow(
            4,
            "/d/faq.html",
            "Programming FAQ > How do I iterate over a sequence in reverse order?",
            "How do I iterate over a sequence in reverse order?\nUse the reversed() built-in.",
        ),
        ChunkRow(5, "/d/intro.html", "Introduction", "Introduction\nShort text."),
    ]


def test_pairs_from_structure() -> None:
    pairs = pairs_from_chunks(_rows(), sentence_share=1.0)
    got = {(p.kind, p.query, p.chunk_id) for p in pairs}
    names = {(p.query, p.chunk_id) for p in pairs if p.kind == "entry-name"}
    assert len(names) == 2
    assert any("divmod" in q and "dict" not in q for q, c in names if c == 1)
    assert any("dict.setdefault" in q for q, c in names if c == 3)
    assert (
        "entry-description",
        "Take two numbers as arguments and return a pair of numbers consisting of their "
        "quotient and remainder.",
        1,
    ) in got
    assert ("heading", "How do I iterate over a sequence in reverse order?", 4) in got
    # A continuation chunk of an entry gives an inverse-cloze sentence, tied
    # to the entry's section so training does not count its sibling as wrong.
    cloze = [p for p in pairs if p.chunk_id == 2]
    assert [p.kind for p in cloze] == ["sentence"]
    assert cloze[0].group == next(p.group for p in pairs if p.chunk_id == 1)
    # "Introduction" is neither an entry nor a question-like title, and its
    # text has no full sentence.
    assert not [p for p in pairs if p.chunk_id == 5]


def test_split_keeps_sections_together() -> None:
    rows = [
        ChunkRow(r.chunk_id + 10 * copy, f"{r.document}.{copy}", r.heading, r.text)
        for copy in range(20)
        for r in _rows()
    ]
    pairs = pairs_from_chunks(rows, sentence_share=1.0)
    train, held = split_pairs(pairs, 0.5, seed=3)
    assert train and held
    assert not {p.group for p in train} & {p.group for p in held}
    assert len(train) + len(held) == len(pairs)
