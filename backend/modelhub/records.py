"""What the model library's API carries (plain records, light to import:
the contract and a remote client name them without loading the Hub client)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backend.modelhub.catalog import Kind


@dataclass(frozen=True)
class HubModel:
    """A search hit."""

    repo: str
    downloads: int | None = None
    likes: int | None = None
    gated: bool = False
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuantOption:
    """One downloadable model in a GGUF repo: a quantization and its file(s)."""

    quant: str | None
    files: tuple[str, ...]
    total_bytes: int

    @property
    def parts(self) -> int:
        return len(self.files)


@dataclass(frozen=True)
class PullResult:
    """A registered model.

    ``path`` is what to use: the GGUF file (a split model's first part) or
    the model folder. ``downloaded_bytes`` is what crossed the network in this
    call (less than ``total_bytes`` after a resume, 0 when already present).
    """

    path: Path
    files: tuple[Path, ...]
    repo: str
    revision: str
    quant: str | None
    kind: Kind
    total_bytes: int
    downloaded_bytes: int
    already_present: bool = False


@dataclass(frozen=True)
class Removed:
    """What ``remove_model`` deleted."""

    name: str
    paths: tuple[Path, ...]
    bytes_freed: int


@dataclass(frozen=True)
class InstalledFolder:
    """A model folder the library pulled (an embedder or a reranker), as its
    pull record (``layout.PullRecord``) describes it."""

    name: str
    kind: Kind
    path: Path
    repo: str
    revision: str
    size_bytes: int
