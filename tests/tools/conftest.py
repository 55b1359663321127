"""Fixtures for the built-in tool tests: a small folder of documents and
the built-in tools on it, registered."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.tools.builtin import ToolContext, builtin_tools
from backend.tools.registry import ToolRegistry
from tests.tools.builtin_helpers import FIXED_NOW, no_search


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "recipes").mkdir(parents=True)
    (root / "recipes" / "bread.md").write_text(
        "# Bread\n\nFlour, water, salt.\nKnead ten minutes.\nBake at 230 C.\n", encoding="utf-8"
    )
    (root / "todo.txt").write_text("".join(f"task {n}\n" for n in range(1, 101)))
    return root


@pytest.fixture
def registry(tmp_path: Path, docs: Path) -> ToolRegistry:
    context = ToolContext(
        roots=lambda: [docs],
        notes_dir=tmp_path / "notes",
        search=no_search,
        now=lambda: FIXED_NOW,
    )
    return ToolRegistry(builtin_tools(context))
