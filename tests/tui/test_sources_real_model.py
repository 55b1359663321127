"""The real bundled model answering from an indexed file in the TUI, with
the file among the sources under its reply."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assistant.app import AssistantApp
from backend import Backend
from backend.common.config import GenerationSettings, Settings
from backend.common.locations import Locations

from .helpers import SIZE, settle
from .sources_helpers import INDEX_TIMEOUT, add_and_index, ask, reply


@pytest.mark.real_model
async def test_real_model_answers_from_an_indexed_file(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "lighthouse.md").write_text(
        "# Lighthouse\n\nThe lighthouse keeper's cat is named Biscuit and sleeps by the lamp.\n"
    )
    (folder / "bread.txt").write_text("Sourdough bread needs a starter fed with flour.\n")
    settings = Settings(generation=GenerationSettings(max_tokens=48, temperature=0.0))
    backend = Backend(locations=Locations(tmp_path / "home"), settings=settings)
    app = AssistantApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, timeout=INDEX_TIMEOUT)
        await add_and_index(app, folder)
        await ask(pilot, "What is the name of the lighthouse keeper's cat?")
        await settle(pilot, timeout=180)
        answer = reply(app)
        assert answer.record.status == "complete"
        panel = answer.sources
        assert panel.display and panel.lines()
        shown = " ".join(line.render().plain for line in panel.lines())
        assert "lighthouse.md" in shown
        stored = await backend.documents.message_sources(answer.message_id)
        assert os.fspath(folder / "lighthouse.md") in {s.path for s in stored}
