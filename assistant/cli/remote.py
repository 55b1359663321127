"""``assistant --connect URL``: the TUI on a running ``assistant serve``.

The token comes from ``--token``, else ``$ASSISTANT_TOKEN``, else (loopback
URLs) the local secret store (``backend.remote.resolve_token``). The server
is reached once before the TUI starts, so an unreachable server or a
refused token is a one-line error on stderr (exit 1), not a broken screen.

``AssistantApp`` is typed against the contract (``AssistantAPI``), which
``RemoteBackend`` implements by construction (it is generated from it).
"""

from __future__ import annotations

import asyncio

from backend.remote import RemoteBackend, resolve_token


async def _check(url: str, token: str) -> None:
    backend = await RemoteBackend.open(url, token)
    await backend.close()


def run_remote_tui(url: str, token: str | None) -> int:
    """Raises ``AssistantError``/``ValueError`` (the CLI prints them) before the TUI starts."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"--connect needs an http:// or https:// URL, not {url!r}")
    token = resolve_token(url, token)
    asyncio.run(_check(url, token))
    from assistant.app import run_tui

    run_tui(RemoteBackend(url, token))
    return 0
