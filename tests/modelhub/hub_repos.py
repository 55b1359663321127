"""The loopback Hub's data: repos of real files, and the JSON the Hub API returns.

Files over 1 MiB and all ``.gguf``/``.safetensors`` files are LFS files, as on
the Hub (their ETag and ``lfs.sha256`` are the content's SHA-256); the others
are git blobs (ETag and ``blobId``: the git blob SHA-1,
``sha1(b"blob <size>\\0" + content)``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class ServedFile:
    path: str
    source: Path | bytes
    size: int
    sha256: str
    git_sha1: str
    lfs: bool

    @classmethod
    def make(cls, path: str, source: Path | bytes) -> ServedFile:
        sha256, sha1 = hashlib.sha256(), hashlib.sha1()
        if isinstance(source, bytes):
            size = len(source)
            sha1.update(f"blob {size}\0".encode())
            sha256.update(source)
            sha1.update(source)
        else:
            size = source.stat().st_size
            sha1.update(f"blob {size}\0".encode())
            with source.open("rb") as fh:
                while chunk := fh.read(4 << 20):
                    sha256.update(chunk)
                    sha1.update(chunk)
        lfs = size > (1 << 20) or path.endswith((".gguf", ".safetensors"))
        return cls(path, source, size, sha256.hexdigest(), sha1.hexdigest(), lfs)

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.git_sha1

    @property
    def blob_id(self) -> str:
        if not self.lfs:
            return self.git_sha1
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\n"
        return hashlib.sha1(f"{pointer}size {self.size}\n".encode()).hexdigest()

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the file."""
        if isinstance(self.source, bytes):
            return self.source[start:end]
        with Path(self.source).open("rb") as fh:
            fh.seek(start)
            return fh.read(end - start)


@dataclass
class Repo:
    repo_id: str
    commit: str
    files: dict[str, ServedFile]
    gated: bool = False
    tags: tuple[str, ...] = ("gguf",)
    downloads: int = 0


def model_json(repo: Repo, blobs: bool) -> dict[str, Any]:
    siblings = []
    for f in repo.files.values():
        sib: dict[str, Any] = {"rfilename": f.path}
        if blobs:
            sib.update(size=f.size, blobId=f.blob_id)
            if f.lfs:
                sib["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": 134}
        siblings.append(sib)
    return {
        "_id": repo.commit[:24],
        "id": repo.repo_id,
        "modelId": repo.repo_id,
        "author": repo.repo_id.split("/")[0],
        "sha": repo.commit,
        "private": False,
        "gated": "manual" if repo.gated else False,
        "disabled": False,
        "downloads": repo.downloads,
        "likes": 0,
        "tags": list(repo.tags),
        "library_name": "gguf" if "gguf" in repo.tags else "sentence-transformers",
        "lastModified": "2026-12-01T00:00:00.000Z",
        "createdAt": "2026-11-01T00:00:00.000Z",
        "siblings": siblings,
    }


def tree_json(repo: Repo, under: str, recursive: bool) -> list[dict[str, Any]]:
    prefix = f"{under.strip('/')}/" if under.strip("/") else ""
    entries: list[dict[str, Any]] = []
    folders: set[str] = set()
    for f in sorted(repo.files.values(), key=lambda f: f.path):
        if not f.path.startswith(prefix):
            continue
        rest = f.path[len(prefix) :]
        if "/" in rest and not recursive:
            folders.add(prefix + rest.split("/")[0])
            continue
        if recursive:
            parts = rest.split("/")[:-1]
            for i in range(len(parts)):
                folders.add(prefix + "/".join(parts[: i + 1]))
        entry: dict[str, Any] = {"type": "file", "oid": f.blob_id, "size": f.size, "path": f.path}
        if f.lfs:
            entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
        entries.append(entry)
    for folder in sorted(folders):
        oid = hashlib.sha1(folder.encode()).hexdigest()
        entries.append({"type": "directory", "oid": oid, "size": 0, "path": folder})
    return entries
