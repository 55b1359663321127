"""What is not a document: the rules that *skip* a file (recorded with a
reason, never counted as failed).

A folder a user points at holds more than documents: a rendered site's
images, fonts and scripts, archives, build output. Indexing them either
fails ("binary file, not text") or fills the index with noise (a 3.6 MB
one-line ``searchindex.js``). The rules, in the order they apply:

1. **Folders** (checked while walking, nothing under them is read):
   ``node_modules``, ``bower_components``, ``site-packages`` -> "vendored
   packages"; ``__pycache__``, ``build``, ``_build``, ``dist`` -> "build
   output"; any folder holding ``pyvenv.cfg`` -> "virtual environment";
   ``_static`` (what Sphinx and similar generators copy verbatim: theme
   scripts, style sheets, icons) -> "site assets". Each is recorded once, as
   one skipped entry for the folder. Hidden folders (``.git``, ``.venv``,
   caches) stay silently out, as before.
2. **Names** (no read): images, audio/video, archives and compressed files,
   fonts, compiled binaries and model/data blobs by extension; ``*.min.js``
   and ``*.min.css`` -> "minified"; ``*.map`` -> "build output"; style
   sheets (``.css``, ``.scss``, ``.less``) -> "style sheet".
3. **Content** (the first 8 KiB, before parsing): magic numbers (PNG, JPEG,
   GIF, WebP, zip, gzip, bzip2, xz, 7z, ELF, Mach-O, PE, WOFF, OTF/TTF...)
   name what a mislabelled file really is; otherwise NUL bytes or many
   control characters -> "binary". Formats a parser reads as binary (PDF,
   DOCX) are exempt, so a corrupt PDF still *fails* with its reason.
4. **Minified scripts** (``.js``, ``.mjs``, ``.cjs``, whole file): at least
   1 KiB and lines averaging over 500 characters, or a line over 5,000
   characters with under 5% whitespace: machine-written, not prose or code
   anyone reads.

Too-large files stay skipped as before ("larger than the N MB limit").
"""

from __future__ import annotations

from pathlib import Path

SKIP_DIR_REASONS: dict[str, str] = {
    "node_modules": "vendored packages",
    "bower_components": "vendored packages",
    "site-packages": "vendored packages",
    "venv": "virtual environment",
    "__pycache__": "build output",
    "build": "build output",
    "_build": "build output",
    "dist": "build output",
    "_static": "site assets",
}

_BY_EXTENSION: dict[str, str] = {}
for _reason, _exts in {
    "image": ".png .jpg .jpeg .gif .bmp .ico .icns .webp .tif .tiff .svg .heic .avif .psd",
    "audio/video": ".mp3 .wav .ogg .oga .flac .m4a .aac .opus .mp4 .m4v .mkv .avi .mov .webm "
    ".wmv .flv",
    "archive": ".zip .gz .tgz .bz2 .xz .zst .7z .rar .tar .lz .lzma .jar .whl .deb .rpm .dmg "
    ".iso .apk",
    "font": ".ttf .otf .woff .woff2 .eot .pfb",
    "binary": ".exe .dll .so .dylib .o .a .lib .pyc .pyo .class .bin .db .sqlite .sqlite3 "
    ".pkl .pickle .npy .npz .pt .pth .safetensors .gguf .onnx .h5 .parquet .wasm",
    "style sheet": ".css .scss .sass .less",
    "build output": ".map",
}.items():
    for _ext in _exts.split():
        _BY_EXTENSION[_ext] = _reason

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image"),
    (b"\xff\xd8\xff", "image"),
    (b"GIF87a", "image"),
    (b"GIF89a", "image"),
    (b"BM", "image"),
    (b"II*\x00", "image"),
    (b"MM\x00*", "image"),
    (b"PK\x03\x04", "archive"),
    (b"\x1f\x8b", "archive"),
    (b"BZh", "archive"),
    (b"\xfd7zXZ\x00", "archive"),
    (b"7z\xbc\xaf\x27\x1c", "archive"),
    (b"Rar!\x1a\x07", "archive"),
    (b"\x28\xb5\x2f\xfd", "archive"),
    (b"wOFF", "font"),
    (b"wOF2", "font"),
    (b"OTTO", "font"),
    (b"\x00\x01\x00\x00\x00", "font"),
    (b"\x7fELF", "binary"),
    (b"MZ", "binary"),
    (b"\xcf\xfa\xed\xfe", "binary"),
    (b"\xfe\xed\xfa\xcf", "binary"),
    (b"ID3", "audio/video"),
    (b"OggS", "audio/video"),
    (b"fLaC", "audio/video"),
    (b"\x1aE\xdf\xa3", "audio/video"),
)
_RIFF_KINDS = {b"WEBP": "image", b"WAVE": "audio/video", b"AVI ": "audio/video"}
_SCRIPT_EXTENSIONS = frozenset({".js", ".mjs", ".cjs"})
BINARY_DOCUMENT_EXTENSIONS = frozenset({".pdf", ".docx"})
"""Formats a parser reads as binary (``Parser.binary``): never content-skipped."""
HEAD_BYTES = 8192
MINIFIED_MIN_BYTES = 1024
MINIFIED_MEAN_LINE = 500
MINIFIED_LONG_LINE = 5000
MINIFIED_MAX_SPACE = 0.05


def skip_dir_reason(folder: Path) -> str | None:
    """Why a (non-hidden) folder is left out, or None to walk it."""
    reason = SKIP_DIR_REASONS.get(folder.name)
    if reason is not None:
        return reason
    if (folder / "pyvenv.cfg").exists():
        return "virtual environment"
    return None


def skip_name_reason(path: Path) -> str | None:
    """Why a file is skipped by its name alone, or None."""
    name = path.name.lower()
    if name.endswith((".min.js", ".min.css", ".min.mjs")):
        return "minified"
    return _BY_EXTENSION.get(path.suffix.lower())


def skip_content_reason(path: Path, head: bytes, *, binary_parser: bool) -> str | None:
    """Why a file is skipped by its first bytes, or None.

    ``binary_parser``: a parser reads this extension as binary (PDF, DOCX);
    such files are never skipped here (a broken one must fail instead).
    """
    from backend.knowledge.parsers.sniff import looks_binary

    if binary_parser:
        return None
    for magic, reason in _MAGIC:
        if head.startswith(magic):
            if magic in (b"BM", b"MZ") and not looks_binary(head):
                continue  # text that merely starts with these letters
            return reason
    if head.startswith(b"RIFF") and len(head) >= 12:
        return _RIFF_KINDS.get(head[8:12], "binary")
    if looks_binary(head):
        return "binary"
    return None


def is_minified(data: bytes) -> bool:
    """Machine-minified script text (see rule 4 in the module docstring)."""
    if len(data) < MINIFIED_MIN_BYTES:
        return False
    lines = data.split(b"\n")
    if len(data) / len(lines) > MINIFIED_MEAN_LINE:
        return True
    longest = max(lines, key=len)
    if len(longest) <= MINIFIED_LONG_LINE:
        return False
    spaces = sum(longest.count(c) for c in (b" ", b"\t"))
    return spaces / len(longest) < MINIFIED_MAX_SPACE


def minified_reason(path: Path, data: bytes) -> str | None:
    """ "minified" for a minified script, else None (other types: None)."""
    if path.suffix.lower() in _SCRIPT_EXTENSIONS and is_minified(data):
        return "minified"
    return None


def content_skip(path: Path, max_bytes: int) -> str | None:
    """Why a file is skipped by its content (rules 3 and 4), or None;
    unreadable files are left to the parser, which says why it failed."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
            if path.suffix.lower() in _SCRIPT_EXTENSIONS:
                head += handle.read(max(0, max_bytes - HEAD_BYTES))
    except OSError:
        return None
    if head.startswith(b"%PDF-"):
        return None
    binary_parser = path.suffix.lower() in BINARY_DOCUMENT_EXTENSIONS
    reason = skip_content_reason(path, head[:HEAD_BYTES], binary_parser=binary_parser)
    return reason or minified_reason(path, head)
