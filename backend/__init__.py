"""The assistant's headless core.

Everything that is not UI lives here; this package never imports Textual (a
test and an import-linter contract check it). Front ends use the contract
(``backend.api.contract.AssistantAPI``), implemented in-process by
``backend.Backend`` and over HTTP by ``backend.remote.RemoteBackend``.

The package face is lazy (PEP 562): ``import backend.common.errors`` or a
worker process that needs one module does not import the world; the names
below load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backend.api.contract import AssistantAPI
    from backend.common.errors import AssistantError
    from backend.local.backend import Backend

_EXPORTS = {
    "AssistantAPI": "backend.api.contract",
    "AssistantError": "backend.common.errors",
    "Backend": "backend.local.backend",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'backend' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = ["AssistantAPI", "AssistantError", "Backend"]
