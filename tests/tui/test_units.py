"""Small pure pieces of the UI: keymap splitting, code blocks, theme choice."""

from __future__ import annotations

from assistant import keys
from assistant.theming import choose_theme
from assistant.widgets.message import last_code_block
from assistant.widgets.sidebar import snippet_content
from backend.store.records import SearchHit

from .helpers import SIZE, MakeBackend, make_app, notices, settle


def test_split_keymap_reports_unknown_ids() -> None:
    keymap, unknown = keys.split_keymap({"help": "f12", "nope": "x", "quit": "ctrl+x"})
    assert keymap == {"help": "f12", "quit": "ctrl+x"}
    assert unknown == ["nope"]
    assert keys.key_for("help", keymap) == "f12"
    assert keys.key_for("search", keymap) == "ctrl+f"


def test_every_binding_has_a_unique_id() -> None:
    ids = [a.id for a in keys.ACTIONS]
    assert len(ids) == len(set(ids))


def test_last_code_block() -> None:
    text = "a\n```python\nfirst()\n```\nb\n~~~\nsecond()\nthird()\n~~~\n"
    assert last_code_block(text) == "second()\nthird()"
    assert last_code_block("no code") is None


def test_theme_choice_order() -> None:
    names = {"assistant-dark", "assistant-light"}
    assert choose_theme("assistant-light", "assistant-dark", names) == "assistant-light"
    assert choose_theme(None, "assistant-light", names) == "assistant-light"
    assert choose_theme("gone", None, names) == "assistant-dark"


def test_search_snippet_highlights_matches() -> None:
    content = snippet_content(SearchHit(1, "t", 2, "user", "about [zebra]s"))
    assert content.plain == "You: about zebras"
    assert len(content.spans) == 1


async def test_a_failing_worker_is_reported_not_fatal(backends: MakeBackend) -> None:
    app = make_app(backends())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)

        async def broken() -> None:
            raise KeyError("bug")

        app.main.run_worker(broken(), name="broken", exit_on_error=False)
        await pilot.pause(0.1)
        assert any("broken failed" in n for n in notices(app))
        assert app.is_running


def test_request_log_names_the_reranker_model() -> None:
    import json as _json

    from assistant.screens.request_log import detail_summary
    from backend.api import RequestRecord

    def row(detail: dict[str, str]) -> RequestRecord:
        nothing = (None,) * 6  # token counts and speeds
        return RequestRecord(1, None, None, "rerank", "", "", *nothing, 12.0, None, None,
                             "2026-12-01T10:00:00", detail=_json.dumps(detail))  # fmt: skip

    pulled = row({"reranker": "cross-encoder", "model": "ms-marco-minilm-l6"})
    assert detail_summary(pulled) == "cross-encoder (ms-marco-minilm-l6)"
    assert detail_summary(row({"reranker": "llm"})) == "llm"
