"""``assistant eval`` as a user runs it (in this process: ``tests.cli_helpers``)
on a tmp folder of a few real Python documentation pages, indexed with the
real MiniLM. Retrieval modes that need no chat model are measured
(``default``/``rewrite`` may call the model; the facade tests cover the
plumbing they share)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from backend.rag.types import METRIC_KEYS
from tests.cli_helpers import Result, run_cli

HTML = Path("/usr/share/doc/python3.11/html")
PAGES = ("library/atexit.html", "library/copy.html", "library/bisect.html")

pytestmark = pytest.mark.skipif(
    not all((HTML / p).is_file() for p in PAGES), reason="needs the python3.11-doc package"
)


def run(home: Path, *args: str) -> Result:
    return run_cli(*args, env={"ASSISTANT_HOME": str(home)})


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("cli-eval")
    root, home = base / "html", base / "home"
    for page in PAGES:
        (root / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(HTML / page, root / page)
    assert run(home, "folders", "add", str(root)).returncode == 0
    r = run(home, "index", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["indexed"] == len(PAGES), r.stderr
    return root, home


def write(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def test_retrieval_json_shape_and_values(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    root, home = indexed
    questions = write(
        tmp_path / "q.jsonl",
        [
            {
                "q": "How can I register a function to be called when the interpreter exits?",
                "gold": ["library/atexit.html"],
                "answer": "register",
            },
            {
                "q": "How can I register a function to be called when the interpreter exits?",
                "gold": ["library/bisect.html"],
            },
        ],
    )
    args = ["eval", "retrieval", str(questions), "--root", str(root), "--json", "--label", "t1"]
    r = run(home, *args, "--mode", "keyword", "--mode", "dense", "--mode", "hybrid")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["n"] == 2 and out["with_answer"] == 1 and isinstance(out["run_id"], int)
    assert list(out["modes"]) == ["keyword", "dense", "hybrid"]
    for mode, m in out["modes"].items():
        assert set(m) == set(METRIC_KEYS)
        assert all(0.0 <= v <= 1.0 for v in m.values())
        # the right page first for line 1 (1.0), the wrong gold never first (0.0)
        assert m["recall@1"] == 0.5, (mode, m)
        assert m["passage_recall@10"] == 0.5, (mode, m)
        assert m["recall@5"] >= m["recall@1"] and m["mrr@10"] >= m["recall@1"]

    history = run(home, "eval", "runs", "--json")
    assert history.returncode == 0, history.stderr
    runs = json.loads(history.stdout)["runs"]
    assert runs[-1]["id"] == out["run_id"] and runs[-1]["label"] == "t1"
    assert runs[-1]["metrics"] == out["modes"] and runs[-1]["kind"] == "retrieval"
    text = run(home, "eval", "runs")
    assert "retrieval" in text.stdout and "t1" in text.stdout


def test_generate_then_own(indexed: tuple[Path, Path]) -> None:
    root, home = indexed
    r = run(home, "eval", "generate", "--folder", str(root), "-n", "4", "--no-model")
    assert r.returncode == 0, r.stderr
    assert "stored 4 questions" in r.stdout
    r = run(home, "eval", "own", "--mode", "keyword", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["n"] == 4 and out["questions"] == "generated"
    assert out["modes"]["keyword"]["recall@10"] > 0.5
    r = run(home, "eval", "own", "--mode", "keyword")
    assert r.returncode == 0 and "keyword" in r.stdout and "R@5" in r.stdout


def test_bad_input(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    root, home = indexed
    good = write(tmp_path / "good.jsonl", [{"q": "atexit?", "gold": ["library/atexit.html"]}])
    r = run(home, "eval", "retrieval", str(tmp_path / "missing.jsonl"), "--root", str(root))
    assert r.returncode == 1 and "missing.jsonl does not exist" in r.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "fine?", "gold": ["a.html"]}\n{"q": oops\n', encoding="utf-8")
    r = run(home, "eval", "retrieval", str(bad), "--root", str(root))
    assert r.returncode == 1 and "bad.jsonl:2" in r.stderr
    r = run(home, "eval", "retrieval", str(good), "--root", str(tmp_path))
    assert r.returncode == 1 and "is not indexed" in r.stderr
    r = run(home, "eval", "retrieval", str(good), "--root", str(root), "--mode", "fuzzy")
    assert r.returncode == 2 and "invalid choice: 'fuzzy'" in r.stderr
    r = run(home, "eval", "generate", "--folder", str(tmp_path), "--no-model")
    assert r.returncode == 1 and "no watched folder" in r.stderr
    r = run(home, "eval", "answers", str(good), "--root", str(root), "--limit", "0")
    assert r.returncode == 1 and "limit must be at least 1" in r.stderr
