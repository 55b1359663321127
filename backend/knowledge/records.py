"""Plain records shared by the parsers, the chunker, the index and search."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Section:
    """A run of a document's extracted text under one heading path.

    ``start``/``end`` are character offsets into ``ParsedDocument.text``;
    ``page`` is 1-based for paged formats (PDF), else None.
    """

    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class ParsedDocument:
    """What a parser extracted: the whole text and its sections in order."""

    text: str
    sections: list[Section] = field(default_factory=list)
    kind: str = "text"
    title: str | None = None


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough for the embedding model.

    ``tokens`` is its length in the embedding model's tokens (never above the
    model's maximum sequence length); offsets point into the document text.
    """

    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    start: int = 0
    end: int = 0
    tokens: int = 0


@dataclass(frozen=True)
class DocumentHit:
    chunk_id: int
    path: str
    heading: str
    page: int | None
    score: float
    text: str
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class Folder:
    id: int
    path: str
    include_globs: list[str]
    exclude_globs: list[str]
    max_file_bytes: int | None
    added_at: str


@dataclass(frozen=True)
class Document:
    id: int
    folder_id: int
    path: str
    size: int
    mtime_ns: int
    sha256: str | None
    status: str
    error: str | None
    chunk_count: int
    indexed_at: str | None
    duplicate_of: str | None = None
    """For a duplicate (status ``skipped``): the path of the canonical copy
    that is indexed and searched instead."""


def folder_from_row(row: Any) -> Folder:
    return Folder(
        id=row["id"],
        path=row["path"],
        include_globs=json.loads(row["include_globs"]),
        exclude_globs=json.loads(row["exclude_globs"]),
        max_file_bytes=row["max_file_bytes"],
        added_at=row["added_at"],
    )


def document_from_row(row: Any) -> Document:
    """A ``documents`` row; ``duplicate_of`` comes from a ``duplicate_path``
    column when the query joined the canonical's path in."""
    fields = {k: row[k] for k in Document.__dataclass_fields__ if k != "duplicate_of"}
    keys = row.keys()
    return Document(
        **fields, duplicate_of=row["duplicate_path"] if "duplicate_path" in keys else None
    )


@dataclass(frozen=True)
class FolderStatus:
    folder: Folder
    indexed: int
    pending: int
    failed: int
    skipped: int
    chunks: int
    duplicates: int = 0
    """Documents not indexed because another copy is (not in ``skipped``)."""

    def as_dict(self) -> dict[str, Any]:
        f = self.folder
        return {
            "id": f.id,
            "path": f.path,
            "include": f.include_globs,
            "exclude": f.exclude_globs,
            "max_file_bytes": f.max_file_bytes,
            "indexed": self.indexed,
            "pending": self.pending,
            "failed": self.failed,
            "skipped": self.skipped,
            "duplicates": self.duplicates,
            "chunks": self.chunks,
        }


@dataclass
class IndexProgress:
    """Reported after every document (and at the start of a sweep)."""

    total: int
    done: int
    failed: int
    chunks: int
    current: str | None
    elapsed_s: float

    @property
    def eta_s(self) -> float | None:
        if self.done == 0 or self.total <= self.done:
            return None
        return self.elapsed_s / self.done * (self.total - self.done)


@dataclass
class IndexSummary:
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason) of files and folders that are not documents (image,
    archive, minified, build output, too large...): see ``skip_rules``."""
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    """(path, canonical path): stored once, as the canonical."""
    seconds: float = 0.0
    cancelled: bool = False
    yielded_s: float = 0.0
    """Time the sweep stood aside while replies were generated."""

    def skipped_by_reason(self) -> dict[str, int]:
        """How many were skipped for each reason, most frequent first."""
        counts: dict[str, int] = {}
        for _, reason in self.skipped:
            counts[reason] = counts.get(reason, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def merge(self, other: IndexSummary) -> None:
        """Add ``other`` (another folder's sweep) into this summary."""
        self.indexed += other.indexed
        self.unchanged += other.unchanged
        self.removed += other.removed
        self.chunks += other.chunks
        self.failed += other.failed
        self.skipped += other.skipped
        self.duplicates += other.duplicates
        self.seconds += other.seconds
        self.yielded_s += other.yielded_s
        self.cancelled = self.cancelled or other.cancelled

    def as_dict(self) -> dict[str, Any]:
        return {
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "chunks": self.chunks,
            "failed": [{"path": p, "reason": r} for p, r in self.failed],
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "skipped_by_reason": self.skipped_by_reason(),
            "duplicates": [{"path": p, "duplicate_of": c} for p, c in self.duplicates],
            "seconds": round(self.seconds, 3),
            "cancelled": self.cancelled,
            "yielded_s": round(self.yielded_s, 3),
        }
