"""Exporting the open chat from the command palette ("Export
conversation…"): the path is confirmed in an input screen, the file is
Markdown or JSON by its extension, and a notification says where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from assistant.screens.text_input import TextInputScreen

from .helpers import SIZE, MakeBackend, make_app, notices, send, settle, wait_screen


async def export_via_palette(pilot: Pilot[Any], path: Path) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*"Export conversation")
    await pilot.pause(0.3)
    await pilot.press("enter")
    await wait_screen(pilot, TextInputScreen)
    field = pilot.app.screen.query_one(Input)
    assert field.value.endswith(".md")  # Markdown unless the user says .json
    field.value = str(path)
    await pilot.press("enter")
    await settle(pilot)


async def test_palette_exports_markdown_then_json(backends: MakeBackend, tmp_path: Path) -> None:
    app = make_app(backends())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "Where is Lyon?")
        md = tmp_path / "lyon.md"
        await export_via_palette(pilot, md)
        text = md.read_text(encoding="utf-8")
        assert text.startswith('---\ntitle: "Where is Lyon?"\nmodel: "fake-model"\n')
        assert "## You" in text and "Echo: Where is Lyon?" in text
        assert f"Exported “Where is Lyon?” to {md}" in notices(app)

        data = tmp_path / "lyon.json"
        await export_via_palette(pilot, data)
        doc = json.loads(data.read_text(encoding="utf-8"))
        assert [m["content"] for m in doc["conversations"][0]["messages"]] == [
            "Where is Lyon?",
            "Echo: Where is Lyon?",
        ]


async def test_export_says_so_when_there_is_nothing_or_it_cannot_write(
    backends: MakeBackend, tmp_path: Path
) -> None:
    app = make_app(backends())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await app.main.run_action("export_conversation")
        await settle(pilot)
        assert "Nothing to export yet: send a message first" in notices(app)
        await send(pilot, "hello")
        await export_via_palette(pilot, tmp_path / "missing" / "dir" / "x.md")
        assert any(n.startswith("cannot write") for n in notices(app))
        assert not (tmp_path / "missing").exists()
