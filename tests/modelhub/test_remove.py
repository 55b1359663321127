"""Removing downloaded models: all parts, bytes freed, and the refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from backend.common.config import ModelEntry, Settings
from backend.common.locations import Locations
from backend.modelfiles.catalog import BUNDLED_MODEL_NAME, bundled_model_path, discover_models
from backend.modelhub import layout
from backend.modelhub.errors import ModelNotFoundError, RemoveRefusedError
from backend.modelhub.remove import clear_partials, remove_model

from .conftest import gguf_names


def _names(loc: Locations, settings: Settings | None = None) -> set[str]:
    return {m.name for m in discover_models(settings or Settings(), loc)}


def _install(hub_files: dict[str, Path], loc: Locations, *keys: str) -> list[Path]:
    out = []
    for key in keys:
        target = loc.models / hub_files[key].name
        shutil.copyfile(hub_files[key], target)
        out.append(target)
    return out


def test_remove_deletes_every_part_of_a_split_model(
    home: Locations, hub_files: dict[str, Path]
) -> None:
    first, second = _install(hub_files, home, "split1", "split2")
    (single,) = _install(hub_files, home, "q8")
    layout.write_record(home.models, layout.PullRecord(first.name, "chat", "o/r", "c", "Q8_0"))
    size = first.stat().st_size + second.stat().st_size

    removed = remove_model("tiny-split-q8_0", home)
    assert removed.bytes_freed == size
    assert set(removed.paths) == {first, second}
    assert not first.exists() and not second.exists() and single.exists()
    assert layout.read_record(home.models, first.name) is None
    assert "tiny-split-q8_0" not in _names(home)

    by_file_name = remove_model("tiny-q8_0.gguf", home)
    assert by_file_name.bytes_freed == hub_files["q8"].stat().st_size
    assert gguf_names(home) == []


def test_remove_finds_models_in_models_dir_and_by_path(
    home: Locations, hub_files: dict[str, Path], tmp_path: Path
) -> None:
    extra = tmp_path / "extra-models"
    extra.mkdir()
    target = extra / "tiny-q4_0.gguf"
    shutil.copyfile(hub_files["q4"], target)
    settings = Settings(models_dir=extra)
    assert "tiny-q4_0" in _names(home, settings)
    removed = remove_model(str(target), home, settings)
    assert removed.paths == (target,) and not target.exists()


def test_remove_refuses_the_bundled_model_and_files_outside_the_models_folders(
    home: Locations, hub_files: dict[str, Path], tmp_path: Path
) -> None:
    bundled = bundled_model_path()
    assert bundled is not None
    for name in (BUNDLED_MODEL_NAME, str(bundled), bundled.name):
        with pytest.raises(RemoveRefusedError, match="bundled"):
            remove_model(name, home)
    assert bundled.is_file()

    elsewhere = tmp_path / "downloads" / "mine.gguf"
    elsewhere.parent.mkdir()
    shutil.copyfile(hub_files["q4"], elsewhere)
    settings = Settings(models=[ModelEntry(name="mine", path=elsewhere)])
    with pytest.raises(RemoveRefusedError, match="not in a models folder") as err:
        remove_model("mine", home, settings)
    assert err.value.title == "Cannot remove model"
    assert elsewhere.is_file()

    with pytest.raises(ModelNotFoundError, match="No model named 'nothing-here'"):
        remove_model("nothing-here", home)


def test_remove_deletes_a_pulled_folder_but_not_other_folders(home: Locations) -> None:
    pulled = home.models / "bge-small-en"
    (pulled / "1_Pooling").mkdir(parents=True)
    (pulled / "config.json").write_text("{}")
    (pulled / "1_Pooling" / "config.json").write_text('{"a": 1}')
    layout.write_record(
        home.models, layout.PullRecord("bge-small-en", "embedder", "o/r", "c", None)
    )
    removed = remove_model("bge-small-en", home)
    assert removed.bytes_freed == 2 + 8 and not pulled.exists()

    mine = home.models / "my-notes"
    mine.mkdir()
    with pytest.raises(RemoveRefusedError, match="not downloaded by the assistant"):
        remove_model("my-notes", home)
    assert mine.is_dir()


def test_clear_partials_frees_partial_downloads(home: Locations) -> None:
    part = layout.partial_dir(home.models) / "abc-x.gguf.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 1234)
    assert clear_partials(home.models) == 1234
    assert not layout.partial_dir(home.models).exists()
    assert clear_partials(home.models) == 0
