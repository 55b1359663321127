"""Keeping file tools inside the folders the user added.

A model proposes paths, and retrieved text can try to steer it, so every
path a file tool touches goes through ``resolve_inside``: it is resolved to
its real location (``..`` collapsed, every symlink followed) and must then
lie inside the real location of one of the watched folders. A symlink in a
watched folder that points elsewhere, or ``../../etc/passwd``, is refused
with the same message whether its target exists or not, so the refusal
says nothing about the outside. Hidden files and folders (``.git``,
``.env``, ``.ssh``) are refused too: the indexer never reads them either.

What remains is a race: a symlink swapped between the check and the open.
Tools open the resolved path, which narrows it to a swap of a folder above
the file; an attacker who can do that already has the user's account.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from backend.tools.errors import ToolError


class PathOutsideFolders(ToolError):
    """A file tool was asked for a path outside the watched folders."""

    title = "Outside your folders"


class FileNotInFolders(ToolError):
    """The path is inside a watched folder but nothing is there."""

    title = "File not found"


def real_roots(roots: Sequence[Path | str]) -> list[Path]:
    """The watched folders' real locations, duplicates dropped, in order."""
    out: list[Path] = []
    for root in roots:
        real = Path(root).expanduser().resolve()
        if real not in out:
            out.append(real)
    return out


def root_of(real: Path, roots: Sequence[Path]) -> Path | None:
    """The (already real) root that contains the real path ``real``, the
    deepest one when folders nest."""
    inside = [r for r in roots if real == r or real.is_relative_to(r)]
    return max(inside, key=lambda r: len(r.parts)) if inside else None


def _resolve(candidate: Path) -> Path:
    try:
        return candidate.resolve(strict=False)
    except (RuntimeError, OSError) as exc:  # a symlink loop (3.11: RuntimeError)
        raise PathOutsideFolders(f"cannot resolve {candidate}: symlink loop") from exc


def _hidden_part(real: Path, root: Path) -> str | None:
    rel = real.relative_to(root)
    return next((part for part in rel.parts if part.startswith(".")), None)


def _candidates(path: str, roots: list[Path]) -> list[Path]:
    given = Path(path).expanduser()
    if given.is_absolute():
        return [given]
    out = [root / given for root in roots]
    # "docs/a.md" (or "docs") where a watched folder is .../docs: the model
    # often names the folder along with the file
    parts = given.parts
    if parts:
        out += [root / Path(*parts[1:]) for root in roots if root.name == parts[0]]
    return out


def resolve_inside(path: str | Path, roots: Sequence[Path | str], *, strict: bool = True) -> Path:
    """The real path of ``path`` if it lies inside one of ``roots``.

    Args:
        path: Absolute, or relative to one of the roots (the first root
            where it exists wins; a leading component naming a root, as in
            ``docs/a.md`` for the root ``/home/u/docs``, is understood too).
        roots: The watched folders.
        strict: True: the path must exist.

    Raises:
        PathOutsideFolders: its real location is outside every root, or in
            a hidden file or folder, or no folders are watched.
        FileNotInFolders: ``strict`` and nothing exists there.
    """
    text = str(path).strip()
    if not text:
        raise PathOutsideFolders("no path given")
    if "\x00" in text:
        raise PathOutsideFolders("invalid path")
    real_root_list = real_roots(roots)
    if not real_root_list:
        raise PathOutsideFolders(
            "no folders have been added to the knowledge base; file tools can only"
            " read inside those folders"
        )
    allowed: list[Path] = []
    for candidate in _candidates(text, real_root_list):
        real = _resolve(candidate)
        root = root_of(real, real_root_list)
        if root is None:
            continue
        hidden = _hidden_part(real, root)
        if hidden is not None:
            raise PathOutsideFolders(f"{text}: hidden files and folders ({hidden}) are off limits")
        if not strict or real.exists():
            return real
        allowed.append(real)
    if not allowed:
        folders = ", ".join(str(r) for r in real_root_list)
        raise PathOutsideFolders(
            f"{text} is outside the folders you added to the knowledge base ({folders})"
        )
    raise FileNotInFolders(f"{text} does not exist in your folders")
