"""Secrets (the server token, remote API keys): the OS keyring first.

DESIGN.md: secrets live in the OS keyring via ``keyring``, never in the
config file or logs. A headless machine often has no keyring backend
(``keyring.backends.fail.Keyring``); there the secret falls back to a file
readable only by the user (mode 0600) under ``<data dir>/secrets/``, and
``SecretStore.fallback_note`` says so once, so the caller can tell the user.
Every secret is stored under the service ``local-assistant`` and a name.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from backend.common.locations import Locations, default_locations

SERVICE = "local-assistant"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _keyring_usable() -> bool:
    try:
        import keyring
        from keyring.backends import fail

        return not isinstance(keyring.get_keyring(), fail.Keyring)
    except Exception:
        return False


class SecretStore:
    """get/set/delete one named secret, keyring or 0600 file.

    ``use_keyring=None`` asks the keyring whether it has a backend.
    """

    def __init__(self, locations: Locations | None = None, use_keyring: bool | None = None):
        self.locations = locations or default_locations()
        self.use_keyring = _keyring_usable() if use_keyring is None else use_keyring
        self.fallback_note: str | None = None

    def _file(self, name: str) -> Path:
        if not _NAME.match(name):
            raise ValueError(f"invalid secret name {name!r}")
        return self.locations.home / "secrets" / name

    def _note_fallback(self, path: Path) -> None:
        self.fallback_note = (
            f"no OS keyring is available; the secret is kept in {path} (readable only by you)"
        )

    def get(self, name: str) -> str | None:
        if self.use_keyring:
            import keyring

            return keyring.get_password(SERVICE, name)
        path = self._file(name)
        self._note_fallback(path)
        try:
            return path.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def set(self, name: str, value: str) -> None:
        if self.use_keyring:
            import keyring

            keyring.set_password(SERVICE, name, value)
            return
        path = self._file(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        # Create with 0600 from the start: no window where others can read it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(value)
        os.chmod(path, 0o600)
        self._note_fallback(path)

    def delete(self, name: str) -> None:
        if self.use_keyring:
            import keyring
            from keyring.errors import PasswordDeleteError

            with contextlib.suppress(PasswordDeleteError):
                keyring.delete_password(SERVICE, name)
            return
        self._file(name).unlink(missing_ok=True)


def get_secret(name: str, locations: Locations | None = None) -> str | None:
    return SecretStore(locations).get(name)


def set_secret(name: str, value: str, locations: Locations | None = None) -> None:
    SecretStore(locations).set(name, value)


def delete_secret(name: str, locations: Locations | None = None) -> None:
    SecretStore(locations).delete(name)
