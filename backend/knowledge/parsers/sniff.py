"""Binary detection and text decoding.

Files are named by users, so the extension is a hint, not a promise: a ``.txt``
that is really a binary blob must be refused with a clear reason rather than
indexed as garbage, and a Latin-1 file must be decoded, never crash the job.
"""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

from backend.knowledge.parsers.base import ParseError

_SAMPLE = 8192
# Control bytes that plain text legitimately contains: \b \t \n \f \r ESC.
_TEXT_CONTROLS = {8, 9, 10, 12, 13, 27}
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Western encodings win ties: charset-normalizer often calls short Latin-1
# text cp1250, which turns "crème" into "crčme".
_PREFERRED = ("cp1252", "latin_1", "iso8859_15")


def _bom_encoding(data: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def looks_binary(data: bytes) -> bool:
    """True for NUL bytes or many non-text control bytes in the first 8 KiB."""
    if _bom_encoding(data):
        return False
    sample = data[:_SAMPLE]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 32 and b not in _TEXT_CONTROLS)
    return controls / len(sample) > 0.1


def decode_text(data: bytes) -> str:
    """Decode bytes as UTF-8 first, else as detected; newlines become ``\\n``."""
    if looks_binary(data):
        raise ParseError("binary file, not text")
    encoding = _bom_encoding(data)
    if encoding:
        text = data.decode(encoding, errors="replace")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = _decode_detected(data)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_detected(data: bytes) -> str:
    matches = list(from_bytes(data))
    if not matches:
        return data.decode("cp1252", errors="replace")
    best = matches[0]
    for match in matches:
        if match.encoding in _PREFERRED and match.chaos <= best.chaos + 0.05:
            return str(match)
    return str(best)
