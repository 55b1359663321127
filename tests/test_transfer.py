"""Export and import (``TransferAPI``) on the fake runtime: the JSON round
trip is exact (branches, the active one, feedback, sources, tool calls,
token use), Markdown shows the active branch with front matter and
citations, ChatGPT's export imports as a tree, and a bad file imports
nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from backend import Backend
from backend.api import ImportFormatError
from backend.common.config import Settings
from backend.common.events import SourceRef, ToolCallFinished
from backend.common.locations import Locations
from backend.runtimes.fake import FakeRuntime
from backend.store.transfer import TransferStore

CHATGPT = Path(__file__).parent / "data" / "chatgpt_conversations.json"


async def open_backend(home: Path) -> Backend:
    return await Backend.open(
        locations=Locations(home),
        settings=Settings(default_model="fake-model"),
        runtimes=[FakeRuntime()],
    )


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[Backend, Backend]]:
    """Two backends on two data folders: the source and a fresh one."""
    a, b = await open_backend(tmp_path / "a"), await open_backend(tmp_path / "b")
    yield a, b
    await a.close()
    await b.close()


async def rich_conversation(b: Backend) -> int:
    """Branches (a regenerated reply, an edited question, a non-default
    branch active), feedback, sources, a tool call, per-chat settings."""
    first = await b.chat.send(None, "What should I pack: boots or sandals?")
    await first.collect()
    cid = first.conversation_id
    _, a1 = await b.conversations.thread(cid)
    await (await b.chat.regenerate(a1.id)).collect()
    await (await b.chat.send(cid, "And shoes?")).collect()
    u2 = (await b.conversations.thread(cid))[2]
    await (await b.chat.edit_and_resend(u2.id, "And which shoes?")).collect()
    await b.conversations.switch_branch(u2.id, 0)  # the first question is active again
    thread = await b.conversations.thread(cid)
    assert [m.content for m in thread][2] == "And shoes?"
    a2 = thread[3]
    await b.conversations.rate(a1.id, -1)
    await b.conversations.rate(a2.id, 1)
    await b.conversations.edit_reply(a2.id, "Better: boots you have broken in.")
    stores = b.core.stores
    stores.sources.save(
        a2.id,
        [
            SourceRef(
                1, 41, "/notes/trip.md", "Packing", 2, 10, 60, "Bring boots.", 0.8, ("x",), True
            ),
            SourceRef(2, 42, "/notes/old.md", "", None, 0, 9, "Sandals.", 0.3),
        ],
    )
    stores.tool_calls.save(
        a2.id,
        [ToolCallFinished("call_1", 1, "calculator", {"expression": "2+2"}, "2+2 = 4", ms=3.5)],
    )
    await b.conversations.set_system_prompt(cid, "Be brief: answer in one line.")
    await b.documents.set_conversation_documents(cid, False)
    await b.tools.set_conversation_tools(cid, True)
    return cid


def without_stamp(text: str) -> dict[str, Any]:
    doc = json.loads(text)
    del doc["exported_at"]
    return doc


def view(messages: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (m.role, m.display_content, m.sibling_index, m.sibling_count, m.rating, m.status)
        for m in messages
    ]


async def test_json_round_trip_is_exact(two: tuple[Backend, Backend]) -> None:
    src, dst = two
    cid = await rich_conversation(src)
    await (await src.chat.send(None, "A second, plain chat")).collect()
    exported = await src.transfer.export_conversations(None, "json")
    doc = json.loads(exported)
    assert (doc["format"], doc["version"]) == ("local-assistant.conversations", 1)
    tree = doc["conversations"][0]
    assert len(tree["messages"]) == 7  # every branch, not just the active one
    assert tree["folder_scope"] is None and tree["use_documents"] is False

    added = await dst.transfer.import_conversations(exported)
    assert [c.title for c in added] == [t["title"] for t in doc["conversations"]]
    again = await dst.transfer.export_conversations([c.id for c in added], "json")
    assert without_stamp(again) == without_stamp(exported)
    # and the restored conversation is the same one to the user
    assert view(await dst.conversations.thread(added[0].id)) == view(
        await src.conversations.thread(cid)
    )
    restored = await dst.conversations.get_conversation(added[0].id)
    original = await src.conversations.get_conversation(cid)
    for field in ("title", "system_prompt", "created_at", "updated_at", "use_tools"):
        assert getattr(restored, field) == getattr(original, field)
    a2 = (await dst.conversations.thread(added[0].id))[3]
    assert [s.path for s in await dst.documents.message_sources(a2.id)] == [
        "/notes/trip.md",
        "/notes/old.md",
    ]
    assert (await dst.tools.message_tool_calls(a2.id))[0].output == "2+2 = 4"
    # imported token use is history, not a measurement
    assert await dst.telemetry.stats() == []


async def test_markdown_has_front_matter_the_active_branch_and_citations(
    two: tuple[Backend, Backend],
) -> None:
    src, _ = two
    cid = await rich_conversation(src)
    md = await src.transfer.export_conversations([cid], "md")
    conv = await src.conversations.get_conversation(cid)
    log = await src.telemetry.request_log(conversation_id=cid)
    prompt = sum(r.prompt_tokens or 0 for r in log)
    completion = sum(r.completion_tokens or 0 for r in log)
    assert prompt > 0 and completion > 0
    front = md.split("---\n")[1]
    assert f'title: "{conv.title}"' in front
    assert 'model: "fake-model"' in front
    assert f'created: "{conv.created_at}"' in front and f'updated: "{conv.updated_at}"' in front
    assert (
        f"  prompt: {prompt}\n  completion: {completion}\n  total: {prompt + completion}" in front
    )
    assert "messages: 4" in front and "branches: 3" in front
    body = md.split("---\n", 2)[2]
    assert "## You" in body and "And shoes?" in body
    assert "And which shoes?" not in body  # another branch
    assert "Better: boots you have broken in." in body  # the edited reply is shown
    assert "Echo: And shoes?" not in body
    assert "Sources:\n\n- [S1] /notes/trip.md › Packing (p. 2)" in body
    assert "/notes/old.md" not in body  # retrieved, not cited
    assert "👍 · edited" in body and "👎" not in body  # the thumbs-down is on another branch


async def test_chatgpt_export_imports_every_branch(two: tuple[Backend, Backend]) -> None:
    _, dst = two
    added = await dst.transfer.import_conversations(CHATGPT.read_text(encoding="utf-8"))
    assert [c.title for c in added] == [
        "Packing for Lyon",
        "Sourdough starter",
    ]  # empty one skipped
    lyon = added[0]
    assert lyon.created_at == "2024-05-01T10:00:00.125+00:00" and lyon.model is None
    thread = await dst.conversations.thread(lyon.id)
    assert [m.content for m in thread] == [
        "What should I pack for three days in Lyon in May?",
        "For Lyon in May (15-22 °C) bring layers, an umbrella and a light jacket.",
        "Is this jacket warm enough?",  # the image part is left out
        "Yes: with a sweater underneath it is fine for 11-21 °C.",  # the tool call skipped
    ]
    assert (thread[1].sibling_index, thread[1].sibling_count) == (2, 2)  # current_node's branch
    assert thread[3].parent_id == thread[2].id and thread[3].model == "gpt-4o"
    tree = json.loads(await dst.transfer.export_conversations([lyon.id], "json"))
    messages = tree["conversations"][0]["messages"]
    assert len(messages) == 7 and {m["role"] for m in messages} == {"user", "assistant"}
    assert "Walking shoes you have already broken in." in {m["content"] for m in messages}
    bread = await dst.conversations.thread(added[1].id)
    assert [m.role for m in bread] == ["user", "assistant"]


def ours(*trees: dict[str, Any]) -> str:
    return json.dumps(
        {"format": "local-assistant.conversations", "version": 1, "conversations": trees}
    )


def tree(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"title": "t", "created_at": "2024", "updated_at": "2024", "messages": list(messages)}


def message(mid: int, parent: int | None = None, role: str = "user") -> dict[str, Any]:
    return {"id": mid, "parent": parent, "role": role, "content": "x", "status": "complete",
            "created_at": "2024"}  # fmt: skip


def chatgpt(mapping: Any) -> str:
    return json.dumps([{"title": "c", "mapping": mapping}])


BAD = {
    "not JSON": ("{oops", "not JSON"),
    "another format": ('{"hello": 1}', "not a conversation export"),
    "empty list": ("[]", "not a conversation export"),
    "bad role": (ours(tree(message(1), message(2, 1, "robot"))), r"\.messages\[1\]\.role"),
    "missing field": (
        ours({"title": "t", "messages": []}),
        r"\$\.conversations\[0\]: 'created_at' is a required",
    ),
    "dangling parent": (ours(tree(message(1), message(2, 7))), "has no parent 7"),
    "duplicate id": (ours(tree(message(1), message(1))), "two messages have the id 1"),
    "newer version": (
        json.dumps({"format": "local-assistant.conversations", "version": 2, "conversations": []}),
        "format version 2",
    ),
    "cycle in the second": (
        ours(tree(message(1)), tree(message(1, 2), message(2, 1))),
        "its own ancestor",
    ),
    "chatgpt mapping": (chatgpt(["not", "a", "mapping"]), r"ChatGPT export, \$\[0\]\.mapping"),
    "chatgpt nothing": (
        chatgpt({"r": {"message": None, "parent": None, "children": []}}),
        "no messages to import",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
async def test_a_bad_file_is_a_clear_error_and_imports_nothing(
    two: tuple[Backend, Backend], case: str
) -> None:
    _, dst = two
    await (await dst.chat.send(None, "already here")).collect()
    before = await dst.conversations.list_conversations()
    text, match = BAD[case]
    with pytest.raises(ImportFormatError, match=match):
        await dst.transfer.import_conversations(text)
    assert await dst.conversations.list_conversations() == before


async def test_a_failure_while_writing_rolls_everything_back(
    two: tuple[Backend, Backend], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = two
    await rich_conversation(src)
    await (await src.chat.send(None, "second")).collect()
    exported = await src.transfer.export_conversations(None, "json")
    calls = []

    def fail_late(*args: Any) -> None:
        calls.append(args)
        if len(calls) > 3:  # well into the second conversation
            raise RuntimeError("disk full")

    monkeypatch.setattr(TransferStore, "_insert_usage", staticmethod(fail_late))
    with pytest.raises(RuntimeError, match="disk full"):
        await dst.transfer.import_conversations(exported)
    assert await dst.conversations.list_conversations() == []
    assert await dst.conversations.search_messages("boots") == []


async def test_export_refuses_unknown_ids_and_formats(two: tuple[Backend, Backend]) -> None:
    src, _ = two
    from backend.common.errors import NotFoundError

    with pytest.raises(NotFoundError):
        await src.transfer.export_conversations([999], "json")
    with pytest.raises(ValueError, match="unknown export format"):
        await src.transfer.export_conversations(None, "pdf")
    empty = json.loads(await src.transfer.export_conversations(None, "json"))
    assert empty["conversations"] == []


async def test_a_tree_out_of_order_still_imports(two: tuple[Backend, Backend]) -> None:
    _, dst = two
    child_first = tree(message(2, 1, "assistant"), message(1))
    (conv,) = await dst.transfer.import_conversations(ours(copy.deepcopy(child_first)))
    assert [m.role for m in await dst.conversations.thread(conv.id)] == ["user", "assistant"]
