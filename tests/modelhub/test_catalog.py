"""The curated catalog loads and validates; file names are parsed, not listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.modelfiles import gguf_split
from backend.modelhub import filenames
from backend.modelhub.catalog import CATALOG_PATH, KINDS, load_catalog, parse_catalog
from backend.modelhub.errors import CatalogError


def test_shipped_catalog_loads_and_every_entry_is_complete() -> None:
    catalog = load_catalog()
    assert len(catalog.entries) >= 15
    names = [e.name for e in catalog.entries]
    assert len(names) == len(set(names)), "short names must be unique"
    for e in catalog.entries:
        assert e.kind in KINDS
        owner, _, repo = e.repo.partition("/")
        assert owner and repo, e.name
        assert e.license.strip() and e.title.strip()
        assert e.quants and all(q.bytes > 0 for q in e.quants), e.name
        assert e.params_b > 0 and e.context > 0
        if e.kind == "chat":
            assert e.default_quant is not None and e.quant(None).name == e.default_quant
            assert 0.4 <= e.params_b <= 8.5, f"{e.name}: chat models are 0.5-8B"
            assert e.repo.lower().endswith("gguf"), f"{e.name}: chat models come as GGUF"
            assert e.layers and e.kv_heads and e.head_dim, f"{e.name}: attention shape for KV"
    kinds = {e.kind for e in catalog.entries}
    assert kinds == set(KINDS)
    assert catalog.get("QWEN2.5-1.5B") is catalog.get("qwen2.5-1.5b") is not None
    assert catalog.by_repo("qwen/qwen2.5-1.5b-instruct-gguf") is catalog.get("qwen2.5-1.5b")
    assert catalog.get("cross-encoder/ms-marco-MiniLM-L-6-v2") is None
    assert {e.name for e in catalog.of_kind("reranker")} >= {
        "ms-marco-minilm-l6",
        "bge-reranker-base",
    }


def test_the_catalog_is_shipped_as_package_data() -> None:
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert CATALOG_PATH.name in pyproject.split("[tool.setuptools.package-data]")[1]


_GOOD = """
[[models]]
name = "tiny"
kind = "chat"
repo = "org/Tiny-GGUF"
title = "Tiny"
params_b = 0.5
context = 2048
license = "mit"
default_quant = "Q4_K_M"
quants = [{ name = "Q4_K_M", bytes = 1000 }]
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('repo = "org/Tiny-GGUF"\n', ""), r"models\[0\] \(tiny\): repo is missing"),
        (('repo = "org/Tiny-GGUF"', 'repo = "not a repo"'), r"repo 'not a repo' is not valid"),
        (("bytes = 1000", "bytes = -5"), r"quants\[0\]\.bytes must be a positive integer"),
        (('quants = [{ name = "Q4_K_M", bytes = 1000 }]', "quants = []"), r"quants must be"),
        (('kind = "chat"', 'kind = "vision"'), r"kind 'vision' is not one of chat, embedder"),
        (('license = "mit"\n', ""), r"license is missing"),
        (('default_quant = "Q4_K_M"', 'default_quant = "Q8_0"'), r"default_quant 'Q8_0'"),
        (("context = 2048", "context = 2048\ncolour = 1"), r"colour is not a known field"),
        (("[[models]]", "[[models]"), r"not valid TOML"),
    ],
)
def test_malformed_catalog_is_a_clear_error(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in _GOOD
    with pytest.raises(CatalogError, match=message):
        parse_catalog(_GOOD.replace(old, new))


def test_duplicate_short_names_and_broken_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"models\[1\]: name 'tiny' is used twice"):
        parse_catalog(_GOOD + _GOOD)
    assert parse_catalog(_GOOD).get("tiny") is not None
    broken = tmp_path / "catalog.toml"
    broken.write_text(_GOOD.replace("params_b = 0.5", 'params_b = "big"'))
    with pytest.raises(CatalogError, match=r"catalog\.toml: models\[0\] \(tiny\): params_b"):
        load_catalog(broken)
    with pytest.raises(CatalogError, match="cannot read the model catalog"):
        load_catalog(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("name", "quant"),
    [
        ("qwen2.5-1.5b-instruct-q4_k_m.gguf", "Q4_K_M"),
        ("Qwen3-4B-Q4_K_M.gguf", "Q4_K_M"),
        ("Qwen3-4B-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
        ("gemma-3-1b-it-Q8_0.gguf", "Q8_0"),
        ("microsoft_Phi-4-mini-instruct-IQ4_XS.gguf", "IQ4_XS"),
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
        ("qwen2.5-7b-instruct-q4_k_m-00001-of-00002.gguf", "Q4_K_M"),
        ("Q4_K_M/Model-Q4_K_M-00002-of-00003.gguf", "Q4_K_M"),
        ("Qwen3-8B-BF16.gguf", "BF16"),
        ("qwen2.5-0.5b-instruct-fp16.gguf", "FP16"),
        ("Qwen3-8B.gguf", None),
    ],
)
def test_quant_tag_is_read_from_real_world_file_names(name: str, quant: str | None) -> None:
    assert filenames.quant_of(name) == quant


def test_quant_matching_is_exact_and_splits_are_recognised() -> None:
    assert filenames.matches_quant("Qwen3-4B-Q4_K_M.gguf", "q4_k_m")
    assert not filenames.matches_quant("Qwen3-4B-Q4_K_M.gguf", "Q4_K")
    assert not filenames.matches_quant("Qwen3-4B-IQ4_XS.gguf", "Q4_XS")
    assert not filenames.matches_quant("Qwen3-4B-UD-Q4_K_XL.gguf", "Q4_K_XL")
    part = gguf_split.split_part("a/qwen2.5-7b-instruct-q4_k_m-00002-of-00002.gguf")
    assert part == gguf_split.SplitPart("qwen2.5-7b-instruct-q4_k_m", 2, 2)
    assert (
        gguf_split.split_name(part.prefix, 1, 2) == "qwen2.5-7b-instruct-q4_k_m-00001-of-00002.gguf"
    )
    assert gguf_split.is_secondary_split("x-00002-of-00003.gguf")
    assert not gguf_split.is_secondary_split("x-00001-of-00003.gguf")
    assert gguf_split.split_part("x-00004-of-00003.gguf") is None
    assert not filenames.is_model_gguf("mmproj-model-f16.gguf")
    assert filenames.is_model_gguf("gemma-3-4b-it-Q4_K_M.gguf")
