"""The embedded backend for a CLI command, imported only when a command
runs: ``assistant --help`` and argument errors never load the backend's
services (their imports take most of a second)."""

from __future__ import annotations

from backend.api import AssistantAPI


def local_backend() -> AssistantAPI:
    """An unstarted embedded backend (the TUI starts it in the background)."""
    from backend.local.backend import Backend

    return Backend()


async def open_local() -> AssistantAPI:
    """A started embedded backend; the caller closes it.

    Raises:
        ConfigError, StoreError: see ``AssistantAPI.start``.
    """
    backend = local_backend()
    await backend.start()
    return backend
