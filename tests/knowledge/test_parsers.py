"""Parsers: every format from files generated here, the offsets invariant, and
the bad-file corpus (each must give a clear ParseError, never a crash)."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest
from docx import Document
from pypdf import PdfReader, PdfWriter

from backend.knowledge.parsers import ParseError, parse_file, reading, supported_extensions
from backend.knowledge.records import ParsedDocument

PY_DOCS = Path("/usr/share/doc/python3.11/html")


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF with one text line per page (pypdf cannot draw text)."""
    objects: list[bytes] = []
    n = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    font_id = 3 + 2 * n
    for i, text in enumerate(pages):
        content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    xref = []
    for number, body in enumerate(objects, start=1):
        xref.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    start = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in xref:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        start,
    )
    return bytes(out)


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def assert_offsets(doc: ParsedDocument) -> None:
    assert doc.sections, "expected at least one section"
    for s in doc.sections:
        assert doc.text[s.start : s.end] == s.text
        assert s.text.strip() == s.text and s.text
    starts = [s.start for s in doc.sections]
    assert starts == sorted(starts)


def paths(doc: ParsedDocument) -> list[tuple[str, ...]]:
    return [s.heading_path for s in doc.sections]


# --- formats ---------------------------------------------------------------


def test_plain_text(tmp_path: Path) -> None:
    doc = parse_file(write(tmp_path, "a.txt", "Hello.\r\n\r\nSecond paragraph.\n"))
    assert_offsets(doc)
    assert doc.kind == "text" and doc.text == "Hello.\n\nSecond paragraph.\n"


def test_markdown_atx_setext_and_fences(tmp_path: Path) -> None:
    md = (
        "Intro line.\n\n# Guide\n\nText.\n\n## Install ##\n\nRun it.\n\n"
        "```sh\n# not a heading\n```\n\n"
        "Usage\n-----\n\nUse it.\n\n# Other\nEnd.\n"
    )
    doc = parse_file(write(tmp_path, "g.md", md))
    assert_offsets(doc)
    assert doc.title == "Guide"
    assert paths(doc) == [(), ("Guide",), ("Guide", "Install"), ("Guide", "Usage"), ("Other",)]
    assert "# not a heading" in doc.sections[2].text


def test_rst_headings_by_adornment(tmp_path: Path) -> None:
    rst = (
        "=====\nTitle\n=====\n\nIntro.\n\nPart A\n======\n\nA text.\n\nSub\n---\n\nSub text.\n\n"
        "Part B\n======\n\n----\n\nB text.\n"
    )
    doc = parse_file(write(tmp_path, "r.rst", rst))
    assert_offsets(doc)
    assert paths(doc) == [
        ("Title",),
        ("Title", "Part A"),
        ("Title", "Part A", "Sub"),
        ("Title", "Part B"),
    ]


HTML = """<!DOCTYPE html><html><head><title>Demo page</title><style>.x{}</style>
<script>var nav = 1;</script></head><body>
<nav>Home | About</nav><header><a href="/">Site nav</a></header>
<div class="related">Previous | Next</div><div class="sphinxsidebar">Table of contents</div>
<div role="main"><h1>Demo<a class="headerlink" href="#">¶</a></h1><p>Intro   text
spanning lines.</p><h2>API</h2><p>Functions.</p>
<dl class="py function"><dt id="mod.func">mod.<span>func</span>(<em>x</em>)</dt>
<dd><p>Does things.</p></dd></dl><h2>Examples</h2><pre>  indented
code</pre></div><footer>Copyright</footer></body></html>"""


def test_html_main_content_headings_and_api_entries(tmp_path: Path) -> None:
    doc = parse_file(write(tmp_path, "p.html", HTML))
    assert_offsets(doc)
    assert doc.title == "Demo page"
    for junk in ("Home", "Site nav", "Previous", "Table of contents", "Copyright", "var nav", "¶"):
        assert junk not in doc.text
    assert paths(doc) == [
        ("Demo",),
        ("Demo", "API"),
        ("Demo", "API", "mod.func(x)"),
        ("Demo", "Examples"),
    ]
    assert "Intro text spanning lines." in doc.text
    assert "Does things." in doc.sections[2].text
    assert "  indented\ncode" in doc.text


def test_pdf_one_section_per_page(tmp_path: Path) -> None:
    doc = parse_file(write(tmp_path, "d.pdf", make_pdf(["First page text", "Second page text"])))
    assert_offsets(doc)
    assert [s.page for s in doc.sections] == [1, 2]
    assert "Second page text" in doc.sections[1].text


def test_docx_heading_styles(tmp_path: Path) -> None:
    document = Document()
    document.add_heading("Report", level=1)
    document.add_paragraph("Opening words.")
    document.add_heading("Method", level=2)
    document.add_paragraph("We measured.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "k"
    table.rows[0].cells[1].text = "v"
    document.add_heading("Results", level=1)
    document.add_paragraph("It works.")
    buffer = io.BytesIO()
    document.save(buffer)
    doc = parse_file(write(tmp_path, "r.docx", buffer.getvalue()))
    assert_offsets(doc)
    assert paths(doc) == [("Report",), ("Report", "Method"), ("Results",)]
    assert "k | v" in doc.sections[1].text


def test_python_code_sections_per_definition(tmp_path: Path) -> None:
    src = "import os\n\n\n@decorator\ndef f():\n    return 1\n\n\nclass C:\n    x = 1\n"
    doc = parse_file(write(tmp_path, "m.py", src))
    assert_offsets(doc)
    assert doc.kind == "code" and doc.text == src
    assert paths(doc) == [(), ("def f",), ("class C",)]
    assert doc.sections[1].text.startswith("@decorator")


def test_other_code_and_unknown_text_extension(tmp_path: Path) -> None:
    doc = parse_file(write(tmp_path, "x.go", "package main\n\nfunc main() {}\n"))
    assert_offsets(doc)
    assert doc.kind == "code"
    doc = parse_file(write(tmp_path, "notes.weird", "just text\n"))
    assert doc.kind == "text" and doc.text == "just text\n"


def test_csv_rows_as_column_value_lines(tmp_path: Path) -> None:
    doc = parse_file(write(tmp_path, "t.csv", "name,age\nAda,36\nAlan,41\n"))
    assert_offsets(doc)
    assert [s.text for s in doc.sections] == ["name: Ada\nage: 36", "name: Alan\nage: 41"]


def test_json_flattened(tmp_path: Path) -> None:
    doc = parse_file(write(tmp_path, "c.json", '{"a": {"b": [1, {"c": "x"}]}, "d": true}'))
    assert_offsets(doc)
    assert doc.text == "a.b[0]: 1\na.b[1].c: x\n\nd: true"
    assert paths(doc) == [("a",), ("d",)]
    broken = parse_file(write(tmp_path, "bad.json", '{"a": '))
    assert broken.kind == "text"


def test_supported_extensions() -> None:
    exts = supported_extensions()
    assert {".txt", ".md", ".rst", ".html", ".pdf", ".docx", ".py", ".csv", ".json"} <= exts


# --- bad files -------------------------------------------------------------


def error_of(path: Path, **kwargs: int) -> str:
    with pytest.raises(ParseError) as info:
        parse_file(path, **kwargs)
    return str(info.value)


def test_corrupt_pdf(tmp_path: Path) -> None:
    assert "PDF" in error_of(write(tmp_path, "c.pdf", b"%PDF-1.4\n garbage \x00\x01 no xref"))
    assert "PDF" in error_of(write(tmp_path, "d.pdf", make_pdf(["x"])[:60]))


def test_encrypted_pdf(tmp_path: Path) -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["secret"]))))
    writer.encrypt("user-pass", "owner-pass", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    assert (
        error_of(write(tmp_path, "e.pdf", buffer.getvalue()))
        == "encrypted PDF (password protected)"
    )


def test_binary_named_txt(tmp_path: Path) -> None:
    assert error_of(write(tmp_path, "b.txt", bytes(range(256)) * 4)) == "binary file, not text"
    assert error_of(write(tmp_path, "c.txt", b"\x01\x02\x03\x04\x05\x06abc" * 10)) == (
        "binary file, not text"
    )


def test_empty_file(tmp_path: Path) -> None:
    assert error_of(write(tmp_path, "e.md", b"")) == "empty file"


def test_file_over_limit(tmp_path: Path) -> None:
    path = write(tmp_path, "big.txt", "x" * 2_000_001)
    assert error_of(path, max_bytes=2_000_000) == "larger than the 2 MB limit"


def test_invalid_utf8_is_decoded(tmp_path: Path) -> None:
    text = "Café crème brûlée, déjà vu à la française.\n"
    doc = parse_file(write(tmp_path, "l.txt", text.encode("latin-1")))
    assert doc.text == text
    doc = parse_file(write(tmp_path, "u16.txt", "héllo wörld\n".encode("utf-16")))
    assert doc.text == "héllo wörld\n"


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "secret.txt", "hidden")
    if os.geteuid() == 0:  # root reads anything: make open() refuse as it would

        def refuse(*args: object, **kwargs: object) -> None:
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(reading, "open", refuse, raising=False)
    else:
        path.chmod(0)
    try:
        assert error_of(path) == "cannot read: permission denied"
    finally:
        path.chmod(0o600)


def test_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "a.txt").symlink_to(tmp_path / "b.txt")
    (tmp_path / "b.txt").symlink_to(tmp_path / "a.txt")
    assert error_of(tmp_path / "a.txt") == "cannot read: symlink loop"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert error_of(tmp_path / "nope.txt") == "file not found"
    assert error_of(tmp_path) == "cannot read: is a directory"


def test_file_deleted_while_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "gone.txt", "soon gone")

    def vanish(p: Path, *args: object, **kwargs: object) -> None:
        os.unlink(p)  # deleted between the size check and the read
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(p))

    monkeypatch.setattr(reading, "open", vanish, raising=False)
    assert error_of(path) == "file disappeared while reading"


def test_file_truncated_to_nothing_while_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "gone.txt", "soon gone")

    def open_then_delete(p: Path, *args: object, **kwargs: object) -> io.BytesIO:
        os.unlink(p)  # removed after opening: the read sees no bytes at all
        return io.BytesIO(b"")

    monkeypatch.setattr(reading, "open", open_then_delete, raising=False)
    assert error_of(path) == "file disappeared while reading"


# --- the real Python docs, when installed ----------------------------------


def test_python_docs_json_page() -> None:
    doc = parse_file(PY_DOCS / "library" / "json.html")
    assert_offsets(doc)
    headings = {title for s in doc.sections for title in s.heading_path}
    assert "json — JSON encoder and decoder" in headings
    dumps = [s for s in doc.sections if s.heading_path[-1].startswith("json.dumps(")]
    assert len(dumps) == 1
    assert "Serialize obj to a JSON formatted str" in dumps[0].text
    assert "Navigation" not in doc.text
