"""Every path the assistant uses, in one place.

All user data lives under one folder: platformdirs' user data dir, or
``$ASSISTANT_HOME`` when set (tests and benchmarks always set it, so they never
touch a real profile). ``assistant locate`` prints these.
Nothing here creates files at import time; ``ensure()`` does, when asked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "local-assistant"
HOME_ENV = "ASSISTANT_HOME"


@dataclass(frozen=True)
class Locations:
    home: Path

    @property
    def database(self) -> Path:
        return self.home / "assistant.db"

    @property
    def config(self) -> Path:
        return self.home / "config.toml"

    @property
    def models(self) -> Path:
        """Drop ``.gguf`` files here and they show up in the model picker."""
        return self.home / "models"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @classmethod
    def from_path(cls, home: str | Path) -> Locations:
        return cls(Path(home))

    def ensure(self) -> Locations:
        for d in (self.home, self.models, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        return self

    def as_dict(self) -> dict[str, str]:
        return {
            "home": str(self.home),
            "database": str(self.database),
            "config": str(self.config),
            "models": str(self.models),
            "logs": str(self.logs),
        }


def default_locations(home: str | Path | None = None) -> Locations:
    """Resolve the data folder: explicit argument, then ``$ASSISTANT_HOME``,
    then platformdirs' user data dir."""
    if home is None:
        home = os.environ.get(HOME_ENV) or platformdirs.user_data_dir(APP_NAME)
    return Locations(Path(home).expanduser().resolve())
