"""The offline answer judge: sentence splitting, support by meaning and by
words, faithfulness and citation precision on crafted answers. Uses the real
MiniLM (the thresholds are calibrated on it; the pairs below are the
calibration set the module docstring cites)."""

from __future__ import annotations

import pytest

from backend.knowledge.embedder import Embedder
from backend.rag.judge import Judge, content_words, split_sentences, summarise

PASSAGES = {
    "json": "json.dumps(obj) serializes obj to a JSON formatted str. json.loads(s) deserializes"
    " s (a str, bytes or bytearray instance containing a JSON document) to a Python object.",
    "counter": "A Counter is a dict subclass for counting hashable objects. It is a collection"
    " where elements are stored as dictionary keys and their counts are stored as dictionary"
    " values. The most_common method returns a list of the n most common elements.",
    "train": "The night train to Vienna leaves at eleven from platform four. Tickets can be"
    " bought on board.",
    "bread": "Knead the dough for ten minutes, then let it rise for an hour in a warm place.",
    "atexit": "The atexit module defines functions to register and unregister cleanup"
    " functions. Functions thus registered are automatically executed upon normal interpreter"
    " termination.",
}

CALIBRATION = [
    ("json", "To turn a Python object into a JSON string, call json.dumps.", True),
    ("json", "You can convert JSON text back into Python objects with json.loads.", True),
    ("counter", "Counter counts hashable items and stores the counts as dictionary values.", True),
    ("counter", "Use most_common to get the most frequent elements.", True),
    ("train", "The overnight train for Vienna departs at 11.", True),
    ("bread", "Work the dough for about ten minutes and leave it to rise for one hour.", True),
    ("atexit", "Functions registered with atexit run when the interpreter exits normally.", True),
    ("json", "The weather in Paris is usually mild in spring.", False),
    ("counter", "Use the asyncio.gather function to run coroutines concurrently.", False),
    ("train", "Knead the dough for ten minutes.", False),
    ("bread", "The night train to Vienna leaves at eleven.", False),
    ("atexit", "Regular expressions are compiled with re.compile.", False),
    ("json", "Python was created by Guido van Rossum in 1991.", False),
    ("counter", "Lists are sorted in place with the sort method.", False),
    ("train", "Flights to Vienna are cheapest on Tuesdays.", False),
    ("atexit", "The sys module exposes the interpreter's version number.", False),
    ("json", "The pickle module serializes objects to a binary format.", False),
]


@pytest.fixture(scope="module")
def judge(minilm: Embedder) -> Judge:
    return Judge(minilm)


def test_sentences_lose_markers_and_bullets() -> None:
    text = "Use json.dumps [S1]. It returns a str [S1, S2]!\n- Also json.loads [2]\n\nDone."
    assert split_sentences(text) == [
        "Use json.dumps.",
        "It returns a str!",
        "Also json.loads",
        "Done.",
    ]
    assert content_words("The counts are stored") == {"count", "stor"}


@pytest.mark.parametrize(("key", "sentence", "supported"), CALIBRATION)
def test_calibration_pairs(judge: Judge, key: str, sentence: str, supported: bool) -> None:
    verdict = judge.judge(sentence + " [S1]", {1: PASSAGES[key]}, [1])
    assert len(verdict.sentences) == 1
    assert verdict.sentences[0].supported is supported, verdict.sentences[0]


def test_faithfulness_counts_supported_sentences_with_content(judge: Judge) -> None:
    answer = (
        "Sure! "  # no content: not counted
        "The night train to Vienna leaves at eleven [S1]. "
        "You can buy tickets on the train [S1]. "
        "The trip to Vienna also offers a free dinner in first class [S1]."
    )
    verdict = judge.judge(answer, {1: PASSAGES["train"]}, [1], expected="eleven")
    assert [s.supported for s in verdict.sentences] == [True, True, False]
    assert verdict.faithfulness == pytest.approx(2 / 3)
    assert verdict.citation_precision == 1.0
    assert verdict.contains_answer is True


def test_citation_precision_drops_for_a_source_that_supports_nothing(judge: Judge) -> None:
    passages = {1: PASSAGES["bread"], 2: PASSAGES["atexit"], 3: PASSAGES["json"]}
    answer = "Knead the dough for ten minutes and let it rise for an hour [S1][S2]."
    verdict = judge.judge(answer, passages, [1, 2, 9])  # 9 was never given: ignored
    assert verdict.cited == (1, 2)
    assert verdict.supporting == (1,)
    assert verdict.citation_precision == 0.5
    assert verdict.faithfulness == 1.0


def test_an_answer_citing_nothing_is_not_faithful(judge: Judge) -> None:
    verdict = judge.judge(
        "The night train to Vienna leaves at eleven.", {1: PASSAGES["train"]}, [], "midnight"
    )
    assert verdict.faithfulness == 0.0
    assert verdict.citation_precision is None
    assert verdict.contains_answer is False


def test_words_alone_without_an_embedder() -> None:
    lexical = Judge(None)
    copied = lexical.judge("Knead the dough for ten minutes [S1].", {1: PASSAGES["bread"]}, [1])
    assert copied.faithfulness == 1.0
    paraphrase = lexical.judge(
        "Work it by hand a while, then leave it somewhere cosy [S1].", {1: PASSAGES["bread"]}, [1]
    )
    assert paraphrase.faithfulness == 0.0


def test_summary_averages_where_defined(judge: Judge) -> None:
    good = judge.judge(
        "Knead the dough for ten minutes [S1].", {1: PASSAGES["bread"]}, [1], "dough"
    )
    uncited = judge.judge("Python was created in 1991.", {1: PASSAGES["bread"]}, [])
    summary = summarise([good, uncited])
    assert summary["faithfulness"] == 0.5
    assert summary["citation_precision"] == 1.0  # only the answer that cites counts
    assert summary["answer_contains"] == 1.0
    assert summary["cited_share"] == 0.5
    assert summarise([])["faithfulness"] is None
