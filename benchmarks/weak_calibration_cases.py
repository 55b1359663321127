"""The questions of ``weak_calibration.py`` and how it scores a search.

The dev questions (``QUESTIONS``), the ``OFF_CORPUS`` questions nothing in
the Python docs answers, the ``FOLLOW_UPS`` written for the condense part,
the search settings every part uses, a passage-level hit, and the private
copy of the index it searches.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from inputs import DEV, FACTS_DEV

from backend.knowledge.records import DocumentHit
from backend.store.db import Database

QUESTIONS = (
    DEV,
    FACTS_DEV,
)
K = 6
CANDIDATES = 30
AT = 5
OFF_CORPUS = (
    "How long should sourdough bread proof in the fridge?",
    "What is the capital of Australia?",
    "How do I change a flat tyre on a bicycle?",
    "Who painted the Mona Lisa?",
    "How do I configure a VLAN on a Cisco switch?",
    "What are the symptoms of vitamin D deficiency?",
)

FOLLOW_UPS = (  # (previous question, follow-up, gold page, answer)
    (
        "Which module lets me read and write JSON?",
        "and how do I pretty-print with it?",
        "library/json.html",
        "indent",
    ),
    (
        "How do I read a zip archive and list the files inside it?",
        "and how do I extract all of them?",
        "library/zipfile.html",
        "extractall",
    ),
    (
        "How do I walk a directory tree top-down, getting directories and files at each level?",
        "does it follow symbolic links?",
        "library/os.html",
        "followlinks",
    ),
    (
        "How can I run several coroutines concurrently and wait for all of them?",
        "what about a timeout?",
        "library/asyncio-task.html",
        "wait_for",
    ),
    (
        "How do I use regular expressions to find all matches in a string?",
        "and how do I replace them?",
        "library/re.html",
        "re.sub",
    ),
    (
        "How do I make a shallow or deep copy of a nested list?",
        "how do I customise it for my own class?",
        "library/copy.html",
        "__deepcopy__",
    ),
    (
        "How do I write unit tests with assertion methods?",
        "how do I skip one of them?",
        "library/unittest.html",
        "skip",
    ),
    (
        "How can I replace an object with a fake during a test?",
        "can it check how it was called?",
        "library/unittest.mock.html",
        "assert_called_with",
    ),
)


def load_questions() -> list[dict[str, Any]]:
    out = []
    for path in QUESTIONS:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append({**json.loads(line), "set": path.stem})
    return out


def passage_hit(hits: list[DocumentHit], gold: list[str], answer: str) -> bool:
    needle = answer.lower()
    return any(
        any(h.path.endswith("/" + g) or h.path == g for g in gold) and needle in h.text.lower()
        for h in hits[:AT]
    )


def copy_db(src: Path, dest: Path) -> Database:
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dest)
    source.backup(target)
    source.close()
    target.close()
    return Database(dest)
