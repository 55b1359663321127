from __future__ import annotations

import pytest

from backend import Backend
from backend.common.config import Settings
from backend.common.locations import Locations
from backend.runtimes.fake import FakeRuntime
from trainer.dataset import Turn, load_dataset
from trainer.errors import NotEnoughDataError

from .history import Exchange, ScriptedAnswers, add_chat


async def _open(locations: Locations) -> tuple[Backend, ScriptedAnswers]:
    script = ScriptedAnswers()
    b = await Backend.open(
        locations=locations,
        settings=Settings(default_model="fake-model"),
        runtimes=[FakeRuntime(responder=script)],
    )
    return b, script


async def test_edits_thumbs_and_siblings_become_examples_and_pairs(locations: Locations) -> None:
    b, script = await _open(locations)
    cid = await add_chat(
        b,
        script,
        [
            Exchange("q1", "plain one", edit="better one"),
            Exchange("q2", "liked two", rating=1),
            Exchange("q3", "disliked three", rating=-1, regenerate_rating=1),
            Exchange("q4", "ignored four"),
        ],
    )
    await b.close()
    ds = load_dataset(locations, heldout_fraction=0.0, min_train_examples=1)
    by_target = {ex.target: ex for ex in ds.train}
    assert set(by_target) == {"better one", "liked two", "disliked three (again)"}
    assert by_target["better one"].source == "edit"
    assert by_target["liked two"].source == "thumbs_up"
    # the prompt is the thread as the user sees it: the earlier reply in its edited form
    prompt = by_target["liked two"].prompt
    assert prompt[0].role == "system"
    assert [t for t in prompt[1:]] == [
        Turn("user", "q1"),
        Turn("assistant", "better one"),
        Turn("user", "q2"),
    ]
    pairs = {(p.chosen, p.rejected, p.source) for p in ds.train_pairs}
    assert pairs == {
        ("better one", "plain one", "edit"),
        ("disliked three (again)", "disliked three", "sibling"),
    }
    assert all(ex.conversation_id == cid for ex in ds.train)
    assert ds.summary.train_sft == 3 and ds.summary.train_pairs == 2


async def test_split_is_by_conversation_deterministic_and_excludable(
    locations: Locations,
) -> None:
    b, script = await _open(locations)
    ids = []
    for i in range(10):
        chat = [Exchange(f"c{i} q{j}", f"a{j}", rating=1) for j in range(3)]
        ids.append(await add_chat(b, script, chat))
    # the same liked reply to the same question in a new chat is a duplicate
    await add_chat(b, script, [Exchange("c0 q0", "a0", rating=1)])
    await b.close()

    first = load_dataset(locations)
    again = load_dataset(locations)
    assert first == again
    train_convs = {ex.conversation_id for ex in first.train}
    held_convs = {ex.conversation_id for ex in first.heldout}
    assert train_convs and held_convs and not train_convs & held_convs
    assert first.summary.heldout_conversations == 3  # ceil(11 * 0.2)
    assert first.summary.duplicates_dropped == 1
    assert first.summary.train_sft + first.summary.heldout_sft == 30
    assert first.summary.problem is None
    assert first.require_enough() is first
    # another seed gives another (still conversation-level) split
    other = load_dataset(locations, seed="other")
    assert {ex.conversation_id for ex in other.heldout} != held_convs

    excluded = load_dataset(locations, exclude_conversations=ids[:5])
    kept = {ex.conversation_id for ex in excluded.train + excluded.heldout}
    assert not kept & set(ids[:5])
    assert excluded.summary.excluded_conversations == sorted(ids[:5])


async def test_too_little_data_is_explained(locations: Locations) -> None:
    b, script = await _open(locations)
    await add_chat(b, script, [Exchange("only", "one", rating=1)])
    await add_chat(b, script, [Exchange("never judged", "reply")])
    await b.close()
    ds = load_dataset(locations)
    assert ds.summary.problem is not None
    assert "at least 8 training examples" in ds.summary.problem
    with pytest.raises(NotEnoughDataError, match="thumbs up"):
        ds.require_enough()


async def test_unfinished_replies_are_not_signal(locations: Locations) -> None:
    b, script = await _open(locations)
    await add_chat(b, script, [Exchange("q", "good", rating=1)])
    await b.close()
    # a failed generation that was nevertheless rated must not be learnt
    from backend.store.db import Database

    db = Database(locations.database)
    with db.transaction() as c:
        c.execute("UPDATE messages SET status = 'error' WHERE role = 'assistant'")
    db.close()
    assert load_dataset(locations, heldout_fraction=0).summary.train_sft == 0
