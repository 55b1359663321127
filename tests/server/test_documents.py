"""Answers from the user's folders over the API: sources and citations."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import ollama
import openai
import pytest

from backend import Backend
from backend.common.config import Settings
from backend.common.locations import Locations
from backend.runtimes.base import ChatMessage
from backend.runtimes.fake import FakeRuntime

from .conftest import Running, start_server


def cite_first(messages: list[ChatMessage]) -> str:
    last = messages[-1].content
    return "The capital is Zorbania [S1]." if 'id="S1"' in last else "I do not know."


@pytest.fixture(scope="module")
def served_docs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One server for the module: its tests ask over the API (not stored as
    conversations) about one indexed folder they do not change."""
    tmp_path = tmp_path_factory.mktemp("served-docs")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "geo.md").write_text(
        "# Countries\n\nThe capital of Quuxland is Zorbania, a city on the river Blim.\n"
    )
    loc = Locations(tmp_path / "home")
    settings = Settings(default_model="fake-model")

    async def index() -> None:
        b = await Backend.open(locations=loc, settings=settings, runtimes=[FakeRuntime()])
        try:
            await b.documents.add_folder(str(docs))
            await b.documents.index()
        finally:
            await b.close()

    asyncio.run(index())
    kwargs = {
        "locations": loc,
        "settings": settings,
        "runtimes": [FakeRuntime(responder=cite_first)],
    }
    yield from start_server(kwargs)


def test_openai_documents_field_returns_citations(served_docs: Running) -> None:
    c = openai.OpenAI(base_url=served_docs.url + "/v1", api_key=served_docs.token, max_retries=0)
    reply = c.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "What is the capital of Quuxland?"}],
        extra_body={"documents": True},
    )
    assert reply.choices[0].message.content == "The capital is Zorbania [S1]."
    citations = reply.model_extra["citations"]  # type: ignore[index]
    assert citations[0]["path"].endswith("geo.md") and citations[0]["cited"] is True
    assert "Zorbania" in citations[0]["text"]

    plain = c.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "What is the capital?"}]
    )
    assert plain.choices[0].message.content == "I do not know."
    assert plain.model_extra["citations"] == []  # type: ignore[index]


def test_docs_suffix_streaming_carries_citations_in_the_last_chunk(served_docs: Running) -> None:
    c = openai.OpenAI(base_url=served_docs.url + "/v1", api_key=served_docs.token, max_retries=0)
    chunks = list(
        c.chat.completions.create(
            model="fake-model+docs",
            messages=[{"role": "user", "content": "capital of Quuxland?"}],
            stream=True,
        )
    )
    assert chunks[-1].model_extra["citations"][0]["cited"] is True  # type: ignore[index]


def test_ollama_docs_suffix(served_docs: Running) -> None:
    c = ollama.Client(
        host=served_docs.url, headers={"Authorization": f"Bearer {served_docs.token}"}
    )
    reply = c.chat(
        model="fake-model+docs",
        messages=[{"role": "user", "content": "capital of Quuxland?"}],
        stream=False,
    )
    assert "[S1]" in (reply.message.content or "")
    # the ollama client drops unknown fields; the raw NDJSON's last line has them
    import httpx

    r = httpx.post(
        served_docs.url + "/api/chat",
        json={
            "model": "fake-model",
            "documents": True,
            "messages": [{"role": "user", "content": "capital of Quuxland?"}],
        },
        headers=served_docs.headers(),
    )
    import json

    last = json.loads(r.text.strip().splitlines()[-1])
    assert last["done"] and last["citations"][0]["path"].endswith("geo.md")
