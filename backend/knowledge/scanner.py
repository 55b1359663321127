"""Walking a watched folder: which files are candidates for the index.

Skipped by default: hidden files and folders, VCS folders, ``node_modules``,
virtual environments (any folder holding ``pyvenv.cfg``), caches and build
output; whatever the folder's ``.gitignore`` files exclude (a practical
subset of gitignore: globs, ``/``-anchored patterns, ``dir/`` patterns and
``!`` negations, per directory); the folder's own include/exclude globs.
Folders and files that are not documents (vendored packages, build
output, site assets; images, archives, fonts...: ``skip_rules``) are
yielded with a ``skip`` reason instead, so the index records why they were
left out. Symlinked folders are followed once (a symlink loop is noticed and
reported, not walked forever); files are never read here, only ``stat``-ed.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from backend.knowledge.skip_rules import skip_dir_reason, skip_name_reason

SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".venv", ".tox", ".mypy_cache", ".pytest_cache", ".ruff_cache",
        ".idea", ".vscode", ".cache",
    }
)  # fmt: skip
"""Left out silently (hidden anyway); other skipped folders are recorded."""


@dataclass(frozen=True)
class FileEntry:
    path: Path
    size: int
    mtime_ns: int
    skip: str | None = None
    """Why this file (or folder) is not a document, when a rule says so."""
    folder: bool = False
    """A skipped folder (recorded as one entry; nothing under it is read)."""


@dataclass(frozen=True)
class ScanProblem:
    path: Path
    reason: str


@dataclass
class ScanRules:
    include: tuple[str, ...] = ()
    """Globs (matched against the path relative to the folder, and the
    name); when given, only matching files are candidates."""
    exclude: tuple[str, ...] = ()
    """Globs of files and folders to leave out."""
    honour_gitignore: bool = True


@dataclass
class _Ignore:
    base: Path
    patterns: list[tuple[str, bool, bool, bool]] = field(default_factory=list)
    # (pattern, negated, dir_only, anchored)

    @classmethod
    def read(cls, folder: Path) -> _Ignore | None:
        try:
            text = (folder / ".gitignore").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        ign = cls(folder)
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            line = line[1:] if negated else line
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line
            ign.patterns.append((line.lstrip("/"), negated, dir_only, anchored))
        return ign

    def verdict(self, path: Path, is_dir: bool) -> bool | None:
        """True = ignored, False = re-included, None = no rule applies."""
        rel = path.relative_to(self.base).as_posix()
        result = None
        for pattern, negated, dir_only, anchored in self.patterns:
            if dir_only and not is_dir:
                continue
            target = rel if anchored else path.name
            if fnmatch.fnmatchcase(target, pattern) or (
                not anchored and fnmatch.fnmatchcase(rel, pattern)
            ):
                result = not negated
        return result


def _matches(rel: str, name: str, globs: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(rel, g) or fnmatch.fnmatchcase(name, g) for g in globs)


def scan_folder(
    root: Path, rules: ScanRules | None = None, problems: list[ScanProblem] | None = None
) -> Iterator[FileEntry]:
    """Yield every candidate file under ``root``; append unreadable folders
    and symlink loops to ``problems``."""
    rules = rules or ScanRules()
    problems = problems if problems is not None else []
    seen_dirs: set[tuple[int, int]] = set()

    def walk(folder: Path, ignores: list[_Ignore]) -> Iterator[FileEntry]:
        try:
            st = folder.stat()
        except OSError as err:
            problems.append(ScanProblem(folder, f"cannot open folder: {err.strerror or err}"))
            return
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            problems.append(ScanProblem(folder, "symlink loop: folder already visited"))
            return
        seen_dirs.add(key)
        if rules.honour_gitignore:
            mine = _Ignore.read(folder)
            if mine is not None:
                ignores = [*ignores, mine]
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as err:
            problems.append(ScanProblem(folder, f"cannot list folder: {err.strerror or err}"))
            return
        for entry in entries:
            path = Path(entry.path)
            name = entry.name
            if name.startswith("."):
                continue
            rel = path.relative_to(root).as_posix()
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if rules.exclude and _matches(rel, name, rules.exclude):
                continue
            verdict = None
            for ign in ignores:
                v = ign.verdict(path, is_dir)
                if v is not None:
                    verdict = v
            if verdict:
                continue
            if is_dir:
                if name in SKIP_DIRS:
                    continue
                reason = skip_dir_reason(path)
                if reason is not None:
                    yield FileEntry(path, 0, 0, skip=reason, folder=True)
                    continue
                yield from walk(path, ignores)
                continue
            try:
                fst = entry.stat(follow_symlinks=True)
            except OSError as err:
                problems.append(ScanProblem(path, f"cannot stat: {err.strerror or err}"))
                continue
            if not entry.is_file(follow_symlinks=True):
                continue
            if rules.include and not _matches(rel, name, rules.include):
                continue
            yield FileEntry(path, fst.st_size, fst.st_mtime_ns, skip_name_reason(path))

    yield from walk(root, [])
