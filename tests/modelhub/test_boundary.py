"""The model manager is headless: none of its modules loads Textual or the UI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MODULES = [
    "backend.modelhub",
    "backend.modelhub.catalog",
    "backend.modelhub.download",
    "backend.modelhub.fit",
    "backend.modelhub.ollama_pull",
    "backend.modelhub.remove",
    "backend.modelhub.search",
    "backend.modelhub.worker",
]


def test_modelhub_does_not_import_textual_or_the_app() -> None:
    code = (
        f"import sys, {', '.join(MODULES)}; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'assistant')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).parents[2]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr


def test_modelhub_sources_never_mention_the_ui() -> None:
    package = Path(__file__).parents[2] / "backend" / "modelhub"
    for source in package.glob("*.py"):
        text = source.read_text()
        assert "import textual" not in text and "from textual" not in text, source
        assert "from assistant" not in text and "import assistant" not in text, source
