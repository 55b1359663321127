"""The sources panel on its own (searching, found, cited and uncited
lines), and the functions behind it: ``@folder`` tokens, citation numbers,
a passage's row and column."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Collapsible

from assistant.documents_mode import folder_tokens, resolve_folders
from assistant.screens.source_viewer import location
from assistant.widgets.sources import SourcesPanel, citation_numbers
from backend.common.events import SourceRef, SourcesRetrieved

from .sources_helpers import line_text


def test_folder_tokens_and_citation_numbers() -> None:
    assert folder_tokens("@notes what is in @Work today?") == (
        ["notes", "Work"],
        "what is in today?",
    )
    assert folder_tokens("mail a@b.c about `@decorator`") == ([], "mail a@b.c about `@decorator`")
    assert citation_numbers("A [S2] b [S1, S3] c [S2] [see S7] [x]") == [2, 1, 3, 7]
    assert resolve_folders(["nope"], []) == ([], ["nope"])


def source(n: int, cited: bool = False, matched: bool = False) -> SourceRef:
    return SourceRef(
        n, n, f"/docs/file{n}.pdf", "Intro", 3, 0, 4, "text", cited=cited, matched=matched
    )


class PanelApp(App[None]):
    def compose(self) -> ComposeResult:
        yield SourcesPanel()


async def test_panel_states() -> None:
    app = PanelApp()
    async with app.run_test() as pilot:
        panel = app.query_one(SourcesPanel)
        assert not panel.display
        await panel.searching()
        assert panel.display and panel.status_text == "Searching your documents…"
        event = SourcesRetrieved("q", "q", (source(1), source(2)), rewritten="better query")
        await panel.retrieved(event)
        assert panel.status_text == "Found 2 passages · query rewritten: better query"
        await panel.show(7, [source(1), source(2)], [])
        await pilot.pause()
        assert panel.status_text == "Sources: none cited"
        assert panel.query_one(Collapsible).title == "2 retrieved, not cited"
        await panel.show(7, [source(1, cited=True)], [])
        assert line_text(panel, "-cited") == "Sources  [S1] file1.pdf › Intro (p. 3)"
        # An answer that cited nothing but restated S2: shown apart, never "Sources".
        await panel.show(7, [source(1), source(2, matched=True)], [])
        await pilot.pause()
        assert panel.status_text == ""
        assert line_text(panel, "-matched") == (
            "Matched (not cited by the model)  [S2] file2.pdf › Intro (p. 3)"
        )
        assert panel.query_one(Collapsible).title == "1 more retrieved, not cited"
        await panel.show(7, [], [])
        assert not panel.display
        await panel.retrieved(SourcesRetrieved("q", "q", ()))
        assert panel.status_text == "No matching passages in your documents" and panel.loaded


def test_location_counts_rows_and_columns() -> None:
    assert location("ab\ncd\nef", 4) == (1, 1)
    assert location("ab", 99) == (0, 2)
