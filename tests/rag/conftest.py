"""A small real corpus, indexed once per module with the bundled MiniLM
through ``KnowledgeBase`` (parse, chunk, embed, FTS5 and sqlite-vec)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.knowledge.embedder import Embedder
from backend.knowledge.service import KnowledgeBase
from backend.store.db import Database
from backend.store.migrations import migrate

_BREAD_SECTIONS = [
    ("Starter", "Feed the sourdough starter with flour and water every day until it bubbles."),
    ("Mixing", "Mix the sourdough starter into the dough with salt and more flour."),
    ("Folding", "Fold the sourdough dough every half hour so the gluten grows strong."),
    ("Proofing", "Let the shaped sourdough loaf proof overnight in the fridge."),
    ("Scoring", "Score the sourdough loaf with a razor so it opens in the oven."),
    ("Baking", "Bake the sourdough loaf in a hot covered pot, then uncovered to brown."),
]
_BREAD = "\n\n".join(f"## {title}\n\n{text}" for title, text in _BREAD_SECTIONS)

_API = "\n\n".join(
    f"## {name}()\n\n{text}"
    for name, text in [
        ("reg_count", "Return how many items the registry holds right now."),
        ("reg_tally", "Return the number of entries currently stored in the registry."),
        ("reg_size", "Return the amount of memory the registry's items use."),
    ]
)

CORPUS = {  # path: (title, text)
    "kitchen/sourdough.md": ("Sourdough bread", _BREAD),
    "kitchen/rye.md": ("Rye bread", "Rye bread with a sourdough starter keeps for a week."),
    "kitchen/flatbread.md": ("Flatbread", "Flatbread needs no starter: flour, water, salt."),
    "kitchen/pasta.md": ("Pasta", "Cook pasta in plenty of salted boiling water until al dente."),
    "kitchen/coffee.md": ("Coffee", "Espresso is brewed by forcing hot water through coffee."),
    "imaging/zyqo.md": (
        "Scaling",
        "Call zyqo_scale(img, factor) to resize an image; a factor above one enlarges it.",
    ),
    "imaging/changelog.md": (
        "Changelog",
        "zyqo_scale: zyqo_scale was renamed; the old zyqo_scale alias and flags remain.",
    ),
    "imaging/editor.md": (
        "Photo editor",
        "To make a picture bigger, open it in a photo editor and drag its corner outwards.",
    ),
    "errors/quota.md": (
        "Error 7731",
        "Error code 7731: the disk quota of the account is exceeded.",
    ),
    "errors/network.md": ("Error 2210", "Error code 2210: the connection to the server timed out."),
    "errors/tickets.md": (
        "Ticket 7731",
        "Ticket 7731: typo in the error code table; 7731 and its error code text were fixed.",
    ),
    "tech/disk.md": ("Disk", "When your disk runs out of storage space, delete old files."),
    "api/registry.md": ("Registry", _API),
    "garden/slugs.md": ("Slugs", "Beer traps and copper tape keep slugs away from lettuce."),
    "garden/roses.md": ("Roses", "Prune roses in late winter just above an outward-facing bud."),
    "tech/backup.md": ("Backups", "Keep three copies of your data on two media, one offsite."),
    # the same passage in another document (an identical file would be
    # stored once at index time: backend.knowledge.dedupe)
    "tech/backup-copy.md": (
        "Backups",
        "Keep three copies of your data on two media, one offsite.\n\n"
        "## Restores\n\nA backup you never restored is a hope, not a backup.",
    ),
    "tech/wifi.md": ("Wifi", "Restarting the router often fixes a dropped wireless connection."),
}


@pytest.fixture(scope="module")
def corpus_kb(
    tmp_path_factory: pytest.TempPathFactory, minilm: Embedder
) -> Iterator[KnowledgeBase]:
    """``CORPUS`` written under one folder and indexed for real."""
    root = tmp_path_factory.mktemp("rag")
    docs = root / "docs"
    for rel, (title, text) in CORPUS.items():
        (docs / rel).parent.mkdir(parents=True, exist_ok=True)
        (docs / rel).write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
    db = Database(root / "kb.db")
    migrate(db)
    kb = KnowledgeBase(db, minilm)
    kb.add_folder(docs)
    summary = kb.index()
    assert summary.indexed == len(CORPUS) and not summary.failed
    yield kb
    kb.close()
    db.close()
