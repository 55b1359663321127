"""Retrieval metrics on hand-made rankings whose right answers are worked
out by hand in each test."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend.rag.evaluate import (
    Question,
    aggregate,
    evaluate,
    hit_flags,
    load_questions,
    mrr_at,
    recall_at,
    relative_path,
    score_question,
)
from backend.rag.types import METRIC_KEYS

ROOT = "/docs/html"


@dataclass(frozen=True)
class Hit:
    path: str
    text: str


def h(rel: str, text: str = "") -> Hit:
    return Hit(f"{ROOT}/{rel}", text)


Q = Question(
    q="How do I get quotient and remainder?", gold=("library/functions.html",), answer="DivMod"
)


def test_file_and_passage_flags() -> None:
    hits = [
        h("library/math.html", "divmod is not here... actually divmod"),  # wrong file
        h("library/functions.html", "abs(x) returns the absolute value"),  # file, no answer
        h("library/functions.html", "divmod(a, b) returns a pair"),  # both (case-insensitive)
    ]
    files, passages = hit_flags(Q, hits, ROOT)
    assert files == [False, True, True]
    assert passages == [False, False, True]


def test_score_question_by_hand() -> None:
    hits = [h("a.html")] * 3 + [h("library/functions.html", "x")] + [h("b.html")] * 2
    hits += [h("library/functions.html", "the divmod() builtin")] + [h("c.html")] * 5
    s = score_question(Q, hits, ROOT)
    assert set(s) == set(METRIC_KEYS)
    assert (s["recall@1"], s["recall@5"], s["recall@10"]) == (0.0, 1.0, 1.0)
    assert s["mrr@10"] == pytest.approx(1 / 4)
    assert (s["passage_recall@1"], s["passage_recall@5"], s["passage_recall@10"]) == (0, 0, 1)
    assert s["passage_mrr@10"] == pytest.approx(1 / 7)


def test_hit_beyond_ten_counts_nowhere() -> None:
    hits = [h("z.html")] * 10 + [h("library/functions.html", "divmod")]
    s = score_question(Q, hits, ROOT)
    assert all(v == 0.0 for v in s.values())


def test_any_gold_file_counts_and_root_optional() -> None:
    q = Question(q="mtime?", gold=("library/os.path.html", "library/os.html"), answer="getmtime")
    assert (
        score_question(q, [h("library/os.html", "os.path.getmtime")], ROOT)["passage_mrr@10"] == 1
    )
    # without a root, hit paths must already be relative
    assert hit_flags(q, [Hit("library/os.html", "")], None)[0] == [True]
    assert hit_flags(q, [h("library/os.html")], None)[0] == [False]
    # a file merely ending like a gold path is not gold
    assert hit_flags(q, [h("xlibrary/os.html")], ROOT)[0] == [False]


def test_no_answer_is_never_a_passage_hit() -> None:
    q = Question(q="which module?", gold=("library/json.html",))
    files, passages = hit_flags(q, [h("library/json.html", "anything")], ROOT)
    assert files == [True] and passages == [False]


def test_recall_and_mrr_helpers() -> None:
    assert recall_at([], 5) == 0.0 and mrr_at([]) == 0.0
    assert recall_at([False, True], 1) == 0.0 and recall_at([False, True], 2) == 1.0
    assert mrr_at([False, False, True]) == pytest.approx(1 / 3)
    assert mrr_at([False, True], k=1) == 0.0


def test_aggregate_is_the_mean() -> None:
    perfect = score_question(Q, [h("library/functions.html", "divmod")], ROOT)
    miss = score_question(Q, [h("other.html", "divmod")], ROOT)
    half = score_question(Q, [h("o.html"), h("library/functions.html", "divmod")], ROOT)
    agg = aggregate([perfect, miss, half])
    assert list(agg) == list(METRIC_KEYS)
    assert agg["recall@1"] == pytest.approx(1 / 3)
    assert agg["recall@5"] == pytest.approx(2 / 3)
    assert agg["mrr@10"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert agg["passage_mrr@10"] == pytest.approx(0.5)
    assert aggregate([]) == dict.fromkeys(METRIC_KEYS, 0.0)
    assert evaluate([Q, Q], [[h("library/functions.html", "divmod")], []], ROOT)["recall@1"] == 0.5
    with pytest.raises(ValueError):
        evaluate([Q], [], ROOT)


def test_load_questions(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    lines = [
        json.dumps({"q": "a?", "gold": ["x.html"], "answer": "A"}),
        "",
        json.dumps({"q": "b?", "gold": "y.html"}),
    ]
    path.write_text("\n".join(lines) + "\n")
    qs = load_questions(path)
    assert qs == [Question("a?", ("x.html",), "A"), Question("b?", ("y.html",), "")]
    path.write_text('{"gold": ["x"]}\n')
    with pytest.raises(ValueError, match=":1:"):
        load_questions(path)
    path.write_text("not json\n")
    with pytest.raises(ValueError, match=":1:"):
        load_questions(path)


def test_relative_path() -> None:
    assert relative_path("/docs/html/library/os.html", "/docs/html/") == "library/os.html"
    assert relative_path("/elsewhere/os.html", "/docs/html") == "/elsewhere/os.html"
    assert relative_path("C:\\docs\\a.html", "C:\\docs") == "a.html"
