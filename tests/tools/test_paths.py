"""Confinement of file tools to the watched folders, on real files and real
symlinks: ``..``, absolute paths, symlinked files and folders pointing out,
look-alike prefixes, hidden files, loops."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backend.common.errors import AssistantError
from backend.tools.paths import (
    FileNotInFolders,
    PathOutsideFolders,
    real_roots,
    resolve_inside,
    root_of,
)


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """docs/ (watched) with a file and a subfolder; outside/ (not watched)
    with a secret; docs-evil/ whose name starts like docs."""
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.md").write_text("inside\n")
    (docs / "sub" / "b.txt").write_text("deeper\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    evil = tmp_path / "docs-evil"
    evil.mkdir()
    (evil / "x.txt").write_text("x\n")
    return {"docs": docs, "outside": outside, "evil": evil, "tmp": tmp_path}


def test_relative_and_absolute_paths_inside(tree: dict[str, Path]) -> None:
    docs = tree["docs"]
    assert resolve_inside("a.md", [docs]) == docs / "a.md"
    assert resolve_inside("sub/b.txt", [docs]) == docs / "sub" / "b.txt"
    assert resolve_inside(str(docs / "sub" / "b.txt"), [docs]) == docs / "sub" / "b.txt"
    assert resolve_inside("sub/../a.md", [docs]) == docs / "a.md"
    assert resolve_inside("  a.md ", [docs]) == docs / "a.md"
    assert resolve_inside(".", [docs]) == docs  # the folder itself
    # the model often names the watched folder along with the file
    assert resolve_inside("docs/sub/b.txt", [docs]) == docs / "sub" / "b.txt"
    assert resolve_inside("docs", [docs]) == docs


def test_dotdot_cannot_escape(tree: dict[str, Path]) -> None:
    docs = tree["docs"]
    for path in ["../outside/secret.txt", "sub/../../outside/secret.txt", "..", "/etc/passwd"]:
        with pytest.raises(PathOutsideFolders, match="outside the folders"):
            resolve_inside(path, [docs])
    with pytest.raises(PathOutsideFolders):
        resolve_inside(str(docs / ".." / "outside" / "secret.txt"), [docs])


def test_lookalike_prefix_is_outside(tree: dict[str, Path]) -> None:
    """``/tmp/docs-evil/x`` starts with the string ``/tmp/docs``."""
    with pytest.raises(PathOutsideFolders):
        resolve_inside(str(tree["evil"] / "x.txt"), [tree["docs"]])
    with pytest.raises(PathOutsideFolders):
        resolve_inside("../docs-evil/x.txt", [tree["docs"]])


def test_symlinks_pointing_out_are_refused(tree: dict[str, Path]) -> None:
    docs, outside = tree["docs"], tree["outside"]
    (docs / "file-link.txt").symlink_to(outside / "secret.txt")
    (docs / "dir-link").symlink_to(outside, target_is_directory=True)
    (docs / "abs-link").symlink_to("/etc")
    for path in ["file-link.txt", "dir-link/secret.txt", "dir-link", "abs-link/passwd"]:
        with pytest.raises(PathOutsideFolders, match="outside the folders"):
            resolve_inside(path, [docs])
    with pytest.raises(PathOutsideFolders):
        resolve_inside(str(docs / "dir-link" / "secret.txt"), [docs])


def test_refusal_does_not_reveal_what_exists_outside(tree: dict[str, Path]) -> None:
    docs = tree["docs"]
    (docs / "dir-link").symlink_to(tree["outside"], target_is_directory=True)
    with pytest.raises(PathOutsideFolders) as exists:
        resolve_inside("dir-link/secret.txt", [docs])
    with pytest.raises(PathOutsideFolders) as missing:
        resolve_inside("dir-link/nothing.txt", [docs])
    assert str(exists.value).replace("secret", "nothing") == str(missing.value)


def test_symlinks_inside_resolve_to_their_target(tree: dict[str, Path]) -> None:
    docs = tree["docs"]
    (docs / "alias.md").symlink_to(docs / "sub" / "b.txt")
    (docs / "sub-alias").symlink_to(docs / "sub", target_is_directory=True)
    assert resolve_inside("alias.md", [docs]) == docs / "sub" / "b.txt"
    assert resolve_inside("sub-alias/b.txt", [docs]) == docs / "sub" / "b.txt"


def test_a_symlinked_root_is_its_real_folder(tree: dict[str, Path]) -> None:
    link = tree["tmp"] / "docs-link"
    link.symlink_to(tree["docs"], target_is_directory=True)
    assert resolve_inside("a.md", [link]) == tree["docs"] / "a.md"
    assert resolve_inside(str(link / "a.md"), [link]) == tree["docs"] / "a.md"
    assert resolve_inside(str(tree["docs"] / "a.md"), [link]) == tree["docs"] / "a.md"
    with pytest.raises(PathOutsideFolders):
        resolve_inside("../outside/secret.txt", [link])


def test_symlink_loop_is_refused(tree: dict[str, Path]) -> None:
    docs = tree["docs"]
    os.symlink(docs / "loop-b", docs / "loop-a")
    os.symlink(docs / "loop-a", docs / "loop-b")
    with pytest.raises((PathOutsideFolders, FileNotInFolders)):
        resolve_inside("loop-a", [docs])


def test_hidden_files_are_off_limits(tree: dict[str, Path]) -> None:
    docs = tree["docs"]
    (docs / ".git").mkdir()
    (docs / ".git" / "config").write_text("[remote]\n")
    (docs / ".env").write_text("TOKEN=1\n")
    (docs / "env-link").symlink_to(docs / ".env")
    for path in [".git/config", ".env", "env-link", "sub/../.env"]:
        with pytest.raises(PathOutsideFolders, match="hidden"):
            resolve_inside(path, [docs])


def test_missing_files(tree: dict[str, Path]) -> None:
    docs = tree["docs"]
    with pytest.raises(FileNotInFolders, match=r"nope\.md does not exist"):
        resolve_inside("nope.md", [docs])
    assert resolve_inside("nope.md", [docs], strict=False) == docs / "nope.md"
    with pytest.raises(PathOutsideFolders):  # outside stays outside, strict or not
        resolve_inside("../nope.md", [docs], strict=False)


def test_several_roots(tree: dict[str, Path]) -> None:
    docs, outside = tree["docs"], tree["outside"]
    # a relative path is found in whichever root has it
    assert resolve_inside("secret.txt", [docs, outside]) == outside / "secret.txt"
    assert resolve_inside("a.md", [outside, docs]) == docs / "a.md"
    assert resolve_inside("outside/secret.txt", [docs, outside]) == outside / "secret.txt"


def test_bad_input(tree: dict[str, Path]) -> None:
    with pytest.raises(PathOutsideFolders, match="no folders have been added"):
        resolve_inside("a.md", [])
    with pytest.raises(PathOutsideFolders, match="no path"):
        resolve_inside("  ", [tree["docs"]])
    with pytest.raises(PathOutsideFolders, match="invalid path"):
        resolve_inside("a.md\x00.txt", [tree["docs"]])


def test_errors_are_user_facing() -> None:
    assert issubclass(PathOutsideFolders, AssistantError)
    assert issubclass(FileNotInFolders, AssistantError)
    assert PathOutsideFolders.title == "Outside your folders"


def test_root_helpers(tree: dict[str, Path]) -> None:
    docs = tree["docs"]
    roots = real_roots([docs, str(docs), docs / "sub"])
    assert roots == [docs, docs / "sub"]
    assert root_of(docs / "sub" / "b.txt", roots) == docs / "sub"  # the deepest
    assert root_of(docs / "a.md", roots) == docs
    assert root_of(tree["evil"] / "x.txt", roots) is None
