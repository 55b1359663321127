"""The rules that skip what is not a document (``skip_rules``), on files
made here: names, magic numbers, minified scripts and skipped folders."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

from backend.knowledge.parsers import PARSERS
from backend.knowledge.scanner import scan_folder
from backend.knowledge.skip_rules import (
    BINARY_DOCUMENT_EXTENSIONS,
    content_skip,
    is_minified,
    skip_name_reason,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)


def test_names_that_are_not_documents() -> None:
    cases = {
        "logo.png": "image",
        "photo.JPG": "image",
        "icon.svg": "image",
        "talk.mp4": "audio/video",
        "backup.tar.gz": "archive",
        "changelog.html.gz": "archive",
        "font.woff2": "font",
        "module.pyc": "binary",
        "jquery.min.js": "minified",
        "theme.min.css": "minified",
        "basic.css": "style sheet",
        "app.js.map": "build output",
    }
    assert {name: skip_name_reason(Path(name)) for name in cases} == cases
    for name in ("notes.md", "page.html", "report.pdf", "script.py", "app.js", "data.json"):
        assert skip_name_reason(Path(name)) is None, name


def test_content_names_what_a_mislabelled_file_is(tmp_path: Path) -> None:
    def reason(name: str, data: bytes) -> str | None:
        path = tmp_path / name
        path.write_bytes(data)
        return content_skip(path, 10_000_000)

    zipped = tmp_path / "z.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("a.txt", "hello")
    assert reason("picture.txt", PNG) == "image"
    assert reason("bundle.txt", zipped.read_bytes()) == "archive"
    assert reason("notes.dat", gzip.compress(b"hello" * 100)) == "archive"
    assert reason("blob.txt", bytes(range(256)) * 8) == "binary"
    assert reason("plain.txt", b"Just some text\nwith lines.\n") is None
    assert reason("Makefile", b"MZ is not always an executable: a text line\n") is None
    # a corrupt PDF or DOCX is a document that fails, never a skipped file
    assert reason("broken.pdf", b"%PDF-1.4 garbage") is None
    assert reason("broken.docx", b"PK\x03\x04 not really a docx") is None


def test_binary_document_extensions_match_the_parsers() -> None:
    binary = {ext for p in PARSERS if p.binary for ext in p.extensions}
    assert binary == BINARY_DOCUMENT_EXTENSIONS


def test_minified_scripts(tmp_path: Path) -> None:
    minified = b"var a=1;" + b"function f(b){return b*2};" * 400
    readable = b"\n".join(b"function f%d(x) {\n  return x * 2;\n}" % i for i in range(200))
    assert is_minified(minified)
    assert not is_minified(readable)
    assert not is_minified(b"x=1;" * 10)  # too small to tell
    (tmp_path / "searchindex.js").write_bytes(b"Search.setIndex(" + minified + b")")
    (tmp_path / "doctools.js").write_bytes(readable)
    assert content_skip(tmp_path / "searchindex.js", 10_000_000) == "minified"
    assert content_skip(tmp_path / "doctools.js", 10_000_000) is None
    # a one-line data file is not a script: left to its parser
    (tmp_path / "data.json").write_bytes(b'{"k": "' + b"v" * 20_000 + b'"}')
    assert content_skip(tmp_path / "data.json", 10_000_000) is None


def test_scanner_reports_skipped_folders_once_and_files_by_name(tmp_path: Path) -> None:
    root = tmp_path / "site"
    for rel in (
        "index.html",
        "_static/basic.css",
        "_static/doctools.js",
        "node_modules/pkg/readme.md",
        "env/lib/site.py",
        "_build/html/x.html",
        "images/logo.png",
        ".git/config",
    ):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    (root / "env" / "pyvenv.cfg").write_text("home = /usr")
    entries = {e.path.relative_to(root).as_posix(): e for e in scan_folder(root)}
    assert {k: (e.skip, e.folder) for k, e in entries.items()} == {
        "index.html": (None, False),
        "_static": ("site assets", True),
        "node_modules": ("vendored packages", True),
        "env": ("virtual environment", True),
        "_build": ("build output", True),
        "images/logo.png": ("image", False),
    }
