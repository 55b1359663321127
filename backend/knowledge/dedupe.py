"""Duplicate documents: found at index time, stored once, searched once.

A folder often holds the same text twice: a Sphinx site ships every page's
source next to the page (``_sources/library/json.rst.txt`` beside
``library/json.html``), a note is exported to PDF and HTML, a file is
copied into two sub-folders. Indexing both doubles the embedding work and
lets search return the same passage twice, pushing other answers out of
the top results (0.06-0.16 of passage R@1 on the Python docs).

How a duplicate is recognised (within one watched folder, so a question
scoped to a folder still finds its copy), first rule that fires:

1. **Published source copy** (path rule): ``<dir>/_sources/<page>.<ext>.txt``
   or ``<dir>/_sources/<page>.<ext>`` is Sphinx's copy of the source of
   ``<dir>/<page>.html``; when that page is indexed it is the duplicate's
   canonical. Needed because a section index's source is a ``toctree``
   directive while its page renders the table of contents: the same
   document, but not the same text.
2. **Exact**: the same normalised text (lower-cased words, markup
   removed), compared by hash.
3. **Near**: MinHash (256 permutations) of the word 2-shingles of the
   normalised text; estimated Jaccard similarity >= ``NEAR_THRESHOLD``.
   Normalising drops reST/Sphinx markup (``:func:`` roles, ``.. note::``
   directive heads, ``:option:`` lines, link targets, URLs), which is what
   separates a page's text from its source's. Measured on the 1,027 HTML
   and ``.rst.txt`` files of the Python 3.11 docs (exact Jaccard, all
   527k pairs): pages vs their own source, median 0.73 and 445 of 496
   pairs >= 0.6 (the rest are section indexes, caught by rule 1); the most
   similar *different* pages (``email.message`` vs
   ``email.compat32-message``) 0.46, so 0.6 leaves 3 standard deviations
   of MinHash error (0.03) between them and a false match. Shingles of 3
   words lose pages (0.6: 441 pairs), single words confuse pages (0.5: 17
   false pairs); containment instead of Jaccard gives 100+ false pairs (a
   short page inside a long one).

Texts under ``MIN_WORDS`` words are never deduplicated (two one-line stubs
are not "the same document"), and texts with under ``MIN_SHINGLES``
distinct shingles only by exact match: on a small or repetitive text a
number or a name is the whole difference ("note 3" and "note 7" written
from one template), and MinHash on a few shingles is too coarse to see it.

Which copy is canonical (indexed and searched): the better-ranked format,
``preference``: rendered pages (HTML) before PDF/DOCX before lightweight
markup (Markdown, reST) before plain text, code and the rest; anything
under a ``_sources`` folder last. Between equals, the copy indexed first
stays canonical (so an edit never flips which one search shows); within a
sweep the indexer processes files best-ranked first, so the canonical is
usually embedded and its copies never are.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np

NUM_PERM = 256
SHINGLE_WORDS = 2
NEAR_THRESHOLD = 0.6
MIN_WORDS = 8
MIN_SHINGLES = 50
SOURCE_DIR = "_sources"

_PRIME = np.uint64(4294967311)  # the first prime above 2**32
_rng = np.random.default_rng(20240611)  # fixed: signatures are stored
_A = _rng.integers(1, 2**32, NUM_PERM, dtype=np.uint64)
_B = _rng.integers(0, 2**32, NUM_PERM, dtype=np.uint64)
_STEP = 4096

_WORD = re.compile(r"[^\W_]+")
_URL = re.compile(r"https?://\S+")
_LINK_TARGET = re.compile(r"<[^<>\s]+>`")
_DIRECTIVE = re.compile(r"^\s*\.\.\s+[\w:.-]+::", re.M)
_ROLE = re.compile(r":[\w.+-]+:(?=`)")
_FIELD_LINE = re.compile(r"^\s*:[\w-]+:.*$", re.M)

_RANKS = {
    ".html": 0, ".htm": 0, ".xhtml": 0,
    ".pdf": 1, ".docx": 1,
    ".md": 2, ".markdown": 2, ".rst": 2, ".rest": 2,
}  # fmt: skip
_OTHER_RANK = 3
_SOURCE_PENALTY = 10
_SOURCE_SUFFIXES = (".rst", ".md", ".txt", ".ipynb")


def words(text: str) -> list[str]:
    """The text's words, lower-cased, with markup (reST roles, directive
    heads, field lines, link targets, URLs) left out."""
    text = _URL.sub(" ", text)
    text = _LINK_TARGET.sub("`", text)
    text = _DIRECTIVE.sub(" ", text)
    text = _ROLE.sub("", text)
    text = _FIELD_LINE.sub(" ", text)
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Signature:
    """What is stored per document to find its duplicates later."""

    text_hash: str
    minhash: np.ndarray | None
    """uint32, ``NUM_PERM`` values; None for texts too small to compare
    other than exactly."""

    def blob(self) -> bytes | None:
        return None if self.minhash is None else self.minhash.astype("<u4").tobytes()

    @classmethod
    def from_stored(cls, text_hash: str, blob: bytes | None) -> Signature:
        if blob is None:
            return cls(text_hash, None)
        return cls(text_hash, np.frombuffer(blob, dtype="<u4").astype(np.uint32))


def signature(text: str) -> Signature | None:
    """The text's signature, or None when it is too short to compare."""
    ws = words(text)
    if len(ws) < MIN_WORDS:
        return None
    text_hash = hashlib.sha256(" ".join(ws).encode()).hexdigest()
    shingles = {" ".join(ws[i : i + SHINGLE_WORDS]) for i in range(len(ws) - SHINGLE_WORDS + 1)}
    if len(shingles) < MIN_SHINGLES:
        return Signature(text_hash, None)
    hashes = np.fromiter((zlib.crc32(s.encode()) for s in shingles), np.uint64, len(shingles))
    mins = np.full(NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)
    for at in range(0, len(hashes), _STEP):  # bounded memory on huge texts
        part = hashes[at : at + _STEP]
        permuted = (_A[:, None] * part[None, :] + _B[:, None]) % _PRIME
        mins = np.minimum(mins, permuted.min(axis=1))
    return Signature(text_hash, mins.astype(np.uint32))


def similarity(a: Signature, b: Signature) -> float:
    """1.0 for the same normalised text, else the estimated Jaccard."""
    if a.text_hash == b.text_hash:
        return 1.0
    if a.minhash is None or b.minhash is None:
        return 0.0
    return float(np.mean(a.minhash == b.minhash))


def preference(path: str | PurePath) -> int:
    """Lower is the better canonical copy (see the module docstring)."""
    p = PurePath(path)
    rank = _RANKS.get(p.suffix.lower(), _OTHER_RANK)
    return rank + (_SOURCE_PENALTY if SOURCE_DIR in p.parts[:-1] else 0)


def source_page(path: str | PurePath) -> str | None:
    """The rendered page a published source copy belongs to, or None:
    ``a/_sources/b/c.rst.txt`` -> ``a/b/c.html``."""
    p = PurePath(path)
    parts = p.parts
    if SOURCE_DIR not in parts[:-1]:
        return None
    at = len(parts) - 1 - parts[::-1].index(SOURCE_DIR)
    name = parts[-1]
    for _ in range(2):  # "c.rst.txt": strip ".txt", then ".rst"
        stem, dot, ext = name.rpartition(".")
        if dot and f".{ext.lower()}" in _SOURCE_SUFFIXES:
            name = stem
    if name == parts[-1]:
        return None
    return str(PurePath(*parts[:at], *parts[at + 1 : -1], name + ".html"))


@dataclass
class Candidate:
    """A canonical document duplicates may point at."""

    path: str
    signature: Signature | None
    doc_id: int | None = None
    """None until the document is written."""

    @property
    def rank(self) -> int:
        return preference(self.path)


class DuplicateFinder:
    """The canonical documents of one folder, to match new texts against.

    Near matching compares a signature with every candidate at once
    (numpy): about 1 ms per thousand documents. A folder of hundreds of
    thousands of documents would want LSH banding instead.
    """

    def __init__(self, candidates: Iterable[Candidate] = ()) -> None:
        self._by_path: dict[str, Candidate] = {}
        self._by_hash: dict[str, str] = {}
        self._rows: dict[str, int] = {}
        self._matrix = np.zeros((64, NUM_PERM), dtype=np.uint32)
        self._owners: list[str | None] = []
        for c in candidates:
            self.add(c)

    def __contains__(self, path: str) -> bool:
        return path in self._by_path

    def get(self, path: str) -> Candidate | None:
        return self._by_path.get(path)

    def add(self, candidate: Candidate) -> None:
        self.remove(candidate.path)
        self._by_path[candidate.path] = candidate
        if candidate.signature is None:
            return
        self._by_hash.setdefault(candidate.signature.text_hash, candidate.path)
        if candidate.signature.minhash is None:
            return
        row = len(self._owners)
        if row == len(self._matrix):
            grown = np.zeros((2 * row, NUM_PERM), dtype=np.uint32)
            grown[:row] = self._matrix
            self._matrix = grown
        self._matrix[row] = candidate.signature.minhash
        self._owners.append(candidate.path)
        self._rows[candidate.path] = row

    def remove(self, path: str) -> None:
        old = self._by_path.pop(path, None)
        sig = old.signature if old is not None else None
        if sig is not None and self._by_hash.get(sig.text_hash) == path:
            del self._by_hash[sig.text_hash]
        row = self._rows.pop(path, None)
        if row is not None:
            self._owners[row] = None  # a hole; the row never matches again

    def match(self, path: str, sig: Signature | None) -> tuple[Candidate, float] | None:
        """The canonical that ``path`` (with signature ``sig``) duplicates,
        and their similarity (1.0 for rule 1 and exact matches)."""
        page = source_page(path)
        if page is not None and page in self._by_path and page != path:
            return self._by_path[page], 1.0
        if sig is None:
            return None
        same = self._by_hash.get(sig.text_hash)
        if same is not None and same != path:
            return self._by_path[same], 1.0
        if sig.minhash is None or not self._owners:
            return None
        n = len(self._owners)
        scores = np.mean(self._matrix[:n] == sig.minhash[None, :], axis=1)
        for row in np.argsort(-scores):
            owner = self._owners[int(row)]
            if scores[row] < NEAR_THRESHOLD:
                return None
            if owner is not None and owner != path:
                return self._by_path[owner], float(scores[row])
        return None
