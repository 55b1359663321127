"""Helpers shared by the pull tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from backend.common.config import Settings
from backend.common.locations import Locations
from backend.modelfiles.catalog import discover_models
from backend.modelhub import layout
from backend.modelhub.transfer import RetryPolicy

from .hub_server import HubServer

FAST_RETRY = RetryPolicy(attempts=1, base_delay_s=0.05)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listed(loc: Locations) -> dict[str, Path]:
    return {m.name: m.path for m in discover_models(Settings(), loc) if m.path is not None}


def sent_by_new_gets(hub: HubServer, name: str, seen: int) -> int:
    """Bytes sent by the GETs of ``name`` after the first ``seen`` ones.

    Counting per request, not by a running total: the handler of a request
    whose client was killed or cancelled can still be sending for a moment.
    """
    return sum(g.bytes for g in hub.gets(name)[seen:])


def partials(loc: Locations) -> list[Path]:
    return sorted(p for p in layout.partial_dir(loc.models).rglob("*") if p.is_file())
