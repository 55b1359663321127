"""The source chip under a reply, and forcing a source with ``@docs``, in
the real app on a real Backend (real MiniLM router and index; the chat
model is the citing FakeRuntime of ``test_sources``)."""

from __future__ import annotations

from pathlib import Path

from backend.api import Message

from .helpers import SIZE, make_app, messages, settle, wait_for
from .sources_helpers import INDEX_TIMEOUT, add_and_index, ask, make_library, reply
from .test_sources import CitingRuntime, MakeBackend, backends  # noqa: F401  (fixture)


def question_of(app: object) -> Message:
    return messages(app)[-2].record  # type: ignore[arg-type]


async def test_the_chip_shows_the_source_and_docs_forces_documents(
    backends: MakeBackend,  # noqa: F811
    tmp_path: Path,
) -> None:
    garden, _ = make_library(tmp_path / "library")
    app = make_app(backends(CitingRuntime()))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await add_and_index(app, garden)

        await ask(pilot, "Good evening!")
        await wait_for(pilot, lambda: len(messages(app)) == 2 and reply(app).route_text != "")
        await settle(pilot, timeout=30)
        assert reply(app).route_text == "source: none"
        assert not reply(app).sources.lines()  # nothing was searched

        await ask(pilot, "@docs Good evening!")
        await wait_for(
            pilot,
            lambda: len(messages(app)) == 4 and reply(app).route_text != "",
            timeout=INDEX_TIMEOUT,
        )
        await settle(pilot, timeout=30)
        assert reply(app).route_text == "source: documents (garden)"
        assert question_of(app).content == "Good evening!"  # the token is not sent
        assert await app.backend.documents.message_sources(reply(app).message_id)

        await ask(pilot, "How often should I water tomatoes?")
        await wait_for(pilot, lambda: len(messages(app)) == 6 and reply(app).route_text != "")
        await settle(pilot, timeout=30)
        assert reply(app).route_text.startswith("source: documents")
