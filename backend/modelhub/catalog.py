"""The curated catalog: models known to run well on a laptop, by short name.

The data lives in ``catalog.toml`` next to this module (shipped as package
data) so curating it is an edit to a data file, not to code. Loading checks
every entry and fails with the entry and field named
(``catalog.toml: models[3] (qwen2.5-3b): quants[0].bytes must be a positive
integer``): a broken catalog must never half-load. File names are not part of
the catalog; ``backend.modelhub.plan`` resolves them from the Hub's listing.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from backend.modelhub.errors import CatalogError

Kind = Literal["chat", "embedder", "reranker"]
KINDS: tuple[Kind, ...] = ("chat", "embedder", "reranker")
CATALOG_PATH = Path(__file__).with_name("catalog.toml")

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_QUANT = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True)
class Quant:
    """One downloadable variant: its tag in the file names and its approximate size."""

    name: str
    bytes: int


@dataclass(frozen=True)
class CatalogEntry:
    """One curated model.

    ``layers``, ``kv_heads`` and ``head_dim`` (chat models) let the fit
    estimate compute the KV cache exactly; they are None when unknown.
    """

    name: str
    kind: Kind
    repo: str
    title: str
    params_b: float
    context: int
    license: str
    quants: tuple[Quant, ...]
    tools: bool = False
    default_quant: str | None = None
    layers: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None

    def quant(self, name: str | None = None) -> Quant:
        """The quant called ``name`` (case-insensitive), or the default one.

        Raises:
            KeyError: no such quant in this entry.
        """
        wanted = (name or self.default_quant or self.quants[0].name).upper()
        for q in self.quants:
            if q.name.upper() == wanted:
                return q
        raise KeyError(wanted)


@dataclass(frozen=True)
class Catalog:
    """Every entry, in the curated order (the order breaks ties in ``recommend``)."""

    entries: tuple[CatalogEntry, ...]

    def get(self, name: str) -> CatalogEntry | None:
        """The entry with short name ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((e for e in self.entries if e.name == wanted), None)

    def by_repo(self, repo: str) -> CatalogEntry | None:
        """The entry whose Hub repository is ``repo`` (case-insensitive), or None."""
        wanted = repo.lower()
        return next((e for e in self.entries if e.repo.lower() == wanted), None)

    def of_kind(self, kind: Kind) -> tuple[CatalogEntry, ...]:
        """The entries of one kind, in catalog order."""
        return tuple(e for e in self.entries if e.kind == kind)


class _Checker:
    """Reads one raw entry, raising CatalogError that names where it failed."""

    def __init__(self, source: str, index: int, raw: Any) -> None:
        name = raw.get("name") if isinstance(raw, dict) else None
        self.where = f"{source}: models[{index}]" + (f" ({name})" if isinstance(name, str) else "")
        if not isinstance(raw, dict):
            raise CatalogError(f"{self.where} must be a table")
        self.raw: dict[str, Any] = raw

    def fail(self, field: str, problem: str) -> CatalogError:
        return CatalogError(f"{self.where}: {field} {problem}")

    def text(self, field: str, pattern: re.Pattern[str] | None = None) -> str:
        value = self.raw.get(field)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, "is missing or not a non-empty string")
        if pattern is not None and not pattern.match(value):
            raise self.fail(field, f"{value!r} is not valid")
        return value

    def positive_int(self, field: str, required: bool = True) -> int | None:
        value = self.raw.get(field)
        if value is None and not required:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise self.fail(field, "must be a positive integer")
        return value

    def positive_number(self, field: str) -> float:
        value = self.raw.get(field)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise self.fail(field, "must be a positive number")
        return float(value)

    def quants(self) -> tuple[Quant, ...]:
        raw = self.raw.get("quants")
        if not isinstance(raw, list) or not raw:
            raise self.fail("quants", "must be a non-empty list")
        out: list[Quant] = []
        for i, q in enumerate(raw):
            if not isinstance(q, dict):
                raise self.fail(f"quants[{i}]", "must be a table with name and bytes")
            name, size = q.get("name"), q.get("bytes")
            if not isinstance(name, str) or not _QUANT.match(name):
                raise self.fail(f"quants[{i}].name", "is missing or not a quantization tag")
            if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
                raise self.fail(f"quants[{i}].bytes", "must be a positive integer")
            if any(o.name.upper() == name.upper() for o in out):
                raise self.fail(f"quants[{i}].name", f"{name!r} is listed twice")
            out.append(Quant(name, size))
        return tuple(out)


_KNOWN_FIELDS = {
    "name", "kind", "repo", "title", "params_b", "context", "license", "tools",
    "default_quant", "layers", "kv_heads", "head_dim", "quants",
}  # fmt: skip


def _entry(source: str, index: int, raw: Any) -> CatalogEntry:
    c = _Checker(source, index, raw)
    unknown = sorted(set(c.raw) - _KNOWN_FIELDS)
    if unknown:
        raise c.fail(unknown[0], "is not a known field")
    kind = c.text("kind")
    if kind not in KINDS:
        raise c.fail("kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    tools = c.raw.get("tools", False)
    if not isinstance(tools, bool):
        raise c.fail("tools", "must be true or false")
    quants = c.quants()
    default = c.raw.get("default_quant")
    if default is not None and not any(q.name.upper() == str(default).upper() for q in quants):
        raise c.fail("default_quant", f"{default!r} is not one of the entry's quants")
    return CatalogEntry(
        name=c.text("name", _NAME),
        kind=cast(Kind, kind),
        repo=c.text("repo", _REPO),
        title=c.text("title"),
        params_b=c.positive_number("params_b"),
        context=cast(int, c.positive_int("context")),
        license=c.text("license"),
        quants=quants,
        tools=tools,
        default_quant=default,
        layers=c.positive_int("layers", required=False),
        kv_heads=c.positive_int("kv_heads", required=False),
        head_dim=c.positive_int("head_dim", required=False),
    )


def parse_catalog(text: str, source: str = "catalog.toml") -> Catalog:
    """Parse and validate catalog TOML.

    Args:
        text: the TOML document.
        source: the name used in error messages.

    Returns:
        The catalog, entries in document order.

    Raises:
        CatalogError: invalid TOML, a missing or invalid field (the message
            names the entry and field), or a short name used twice.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise CatalogError(f"{source} is not valid TOML: {err}") from None
    raw_entries = data.get("models")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise CatalogError(f"{source} has no [[models]] entries")
    entries: list[CatalogEntry] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_entries):
        entry = _entry(source, i, raw)
        if entry.name in seen:
            raise CatalogError(f"{source}: models[{i}]: name {entry.name!r} is used twice")
        seen.add(entry.name)
        entries.append(entry)
    return Catalog(tuple(entries))


_CACHE: dict[Path, Catalog] = {}


def load_catalog(path: Path | None = None) -> Catalog:
    """Load the catalog (by default the one shipped with the package).

    Args:
        path: another catalog file (tests, a user's own list).

    Returns:
        The validated catalog; the shipped one is parsed once per process.

    Raises:
        CatalogError: the file is unreadable or invalid (see ``parse_catalog``).
    """
    path = path or CATALOG_PATH
    if path in _CACHE:
        return _CACHE[path]
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise CatalogError(f"cannot read the model catalog {path}: {err.strerror or err}") from None
    catalog = parse_catalog(text, source=path.name)
    if path == CATALOG_PATH:
        _CACHE[path] = catalog
    return catalog
