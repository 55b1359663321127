"""``[rag] reranker = "auto"``: the configured folder, else a cross-encoder
the model library pulled, else none; and the real ``CrossEncoder`` class
running a cross-encoder built from the bundled MiniLM weights
(``tiny_cross_encoder``) through our reranker and the default backend."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from backend import Backend
from backend.common.config import RagSettings
from backend.common.errors import ConfigError
from backend.modelhub import layout
from backend.modelhub.installed import installed_folders
from backend.rag.rerank import (
    CrossEncoderReranker,
    NoReranker,
    choose_reranker,
    downloaded_rerankers,
    make_reranker,
)
from tests.rag.rerank_cases import hits_of

TEXTS = [
    "The income tax return is due in April.",
    "Paris is the capital and largest city of France.",
    "Cats sleep twelve to sixteen hours a day.",
    "A volcano erupts when magma reaches the surface.",
    "Espresso is brewed by forcing hot water through coffee.",
]


def install(models: Path, name: str, source: Path, kind: str = "reranker") -> Path:
    """``source`` copied to ``models/name`` with a pull record, as
    ``pull_folder`` leaves a pulled folder."""
    folder = models / name
    shutil.copytree(source, folder)
    files = [{"path": p.name, "size": p.stat().st_size, "sha256": "-"} for p in folder.iterdir()]
    record = layout.PullRecord(name, kind, f"test-org/{name}", "c0ffee", None, files)
    layout.write_record(models, record)
    return folder


def test_the_real_cross_encoder_scores_and_reorders_through_our_reranker(
    tiny_cross_encoder: Path,
) -> None:
    import torch
    from sentence_transformers import CrossEncoder

    hits = hits_of(TEXTS)
    query = "What is the capital of France?"
    out = CrossEncoderReranker(tiny_cross_encoder).rerank(query, hits)

    direct = CrossEncoder(
        str(tiny_cross_encoder), device="cpu", activation_fn=torch.nn.Identity()
    ).predict([(query, t) for t in TEXTS])
    expected = sorted(range(len(TEXTS)), key=lambda i: -float(direct[i]))
    assert [h.chunk_id for h in out] == expected
    assert expected != list(range(len(TEXTS)))  # the first-stage order did change
    assert [h.score for h in out] == pytest.approx(sorted(map(float, direct), reverse=True))
    assert {h.text for h in out} == set(TEXTS)


def test_auto_prefers_the_configured_folder_then_a_pulled_one(
    tmp_path: Path, tiny_cross_encoder: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    none = choose_reranker(RagSettings())
    assert (none.kind, none.setting) == ("none", "auto")
    assert "assistant models pull ms-marco-minilm-l6" in none.note
    assert isinstance(make_reranker(RagSettings()), NoReranker)

    install(models, "custom-ce", tiny_cross_encoder)
    install(models, "minilm-l6", tiny_cross_encoder, kind="embedder")  # not a reranker
    pulled = downloaded_rerankers([models])
    assert [f.name for f in pulled] == ["custom-ce"]
    one = choose_reranker(RagSettings(), pulled)
    assert (one.kind, one.source, one.name) == ("cross-encoder", "downloaded", "custom-ce")
    assert one.path == models / "custom-ce" and one.note == "the only reranker downloaded"
    reranker = make_reranker(RagSettings(), downloaded=pulled)
    assert isinstance(reranker, CrossEncoderReranker)
    assert reranker.model_dir == models / "custom-ce"

    # Several: the catalog's order wins over names, the others are named.
    install(models, "ms-marco-minilm-l12", tiny_cross_encoder)
    pulled = downloaded_rerankers([models])
    assert [f.name for f in pulled] == ["ms-marco-minilm-l12", "custom-ce"]
    several = choose_reranker(RagSettings(), pulled)
    assert several.name == "ms-marco-minilm-l12" and "also custom-ce" in several.note

    # The configured folder beats every pulled one; "none" means none.
    mine = tmp_path / "mine"
    shutil.copytree(tiny_cross_encoder, mine)
    configured = choose_reranker(RagSettings(cross_encoder_dir=mine), pulled)
    assert (configured.source, configured.path) == ("configured", mine)
    assert choose_reranker(RagSettings(reranker="none"), pulled).kind == "none"
    with pytest.raises(ConfigError, match="cross_encoder_dir"):
        choose_reranker(RagSettings(reranker="cross-encoder"), pulled)


def test_auto_skips_a_broken_pulled_folder_and_says_why(
    tmp_path: Path, tiny_cross_encoder: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    broken = install(models, "broken-ce", tiny_cross_encoder)
    (broken / "model.safetensors").unlink()
    skipped = choose_reranker(RagSettings(), downloaded_rerankers([models]))
    assert skipped.kind == "none"
    assert "broken-ce skipped" in skipped.note and "no model weights" in skipped.note

    install(models, "good-ce", tiny_cross_encoder)
    chosen = choose_reranker(RagSettings(), downloaded_rerankers([models]))
    assert chosen.name == "good-ce" and "broken-ce skipped" in chosen.note

    # A record whose folder was deleted by hand lists nothing.
    shutil.rmtree(broken)
    assert [f.name for f in installed_folders([models])] == ["good-ce"]
    # A configured folder that is not a cross-encoder is an error, not skipped.
    bi = tmp_path / "bi"
    bi.mkdir()
    (bi / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
    with pytest.raises(Exception, match="no sequence-classification head"):
        make_reranker(RagSettings(cross_encoder_dir=bi))


async def test_the_default_backend_reranks_with_a_pulled_cross_encoder(
    backend: Backend, tmp_path: Path, tiny_cross_encoder: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(TEXTS):
        (docs / f"note{i}.txt").write_text(text)
    await backend.documents.add_folder(str(docs))
    await backend.documents.index()
    assert backend.settings.rag.reranker == "auto"

    before = await backend.documents.retrieve("capital of France", mode="hybrid+rerank", k=3)
    assert "rerank" not in [s.stage for s in before.stages]
    assert (await backend.documents.reranker_in_use()).kind == "none"

    # Pulled while the backend runs: used from the next question on.
    models = backend.locations.models
    install(models, "ms-marco-minilm-l6", tiny_cross_encoder)
    in_use = await backend.documents.reranker_in_use()
    assert (in_use.kind, in_use.source, in_use.name) == (
        "cross-encoder",
        "downloaded",
        "ms-marco-minilm-l6",
    )
    folders = await backend.library.installed_folders()
    assert [(f.name, f.kind) for f in folders] == [("ms-marco-minilm-l6", "reranker")]
    after = await backend.documents.retrieve("capital of France", mode="hybrid+rerank", k=3)
    (stage,) = [s for s in after.stages if s.stage == "rerank"]
    assert stage.detail == {"reranker": "cross-encoder", "model": "ms-marco-minilm-l6"}
    # Every note is a candidate, so the final three are the cross-encoder's top three.
    alone = CrossEncoderReranker(tiny_cross_encoder).rerank("capital of France", hits_of(TEXTS))
    assert [h.text for h in after.hits] == [h.text for h in alone[:3]]
    assert [h.score for h in after.hits] == pytest.approx([h.score for h in alone[:3]])

    # Removed: the next question goes without.
    removed = await backend.library.remove("ms-marco-minilm-l6")
    assert removed.bytes_freed > 0
    gone = await backend.documents.retrieve("capital of France", mode="hybrid+rerank", k=3)
    assert "rerank" not in [s.stage for s in gone.stages]
    assert (await backend.documents.reranker_in_use()).kind == "none"
